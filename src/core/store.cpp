// SPDX-License-Identifier: Apache-2.0
#include "verrou/store.hpp"

#include "verrou/errors.hpp"

namespace verrou {

void validate_key(std::string_view key, std::size_t max_length) {
  if (key.empty()) {
    throw InvalidArgumentError("invalid lock key: it is empty; give every lock a non-empty key");
  }
  if (key.size() > max_length) {
    throw InvalidArgumentError("invalid lock key: it is " + std::to_string(key.size()) +
                               " bytes long, and this store accepts at most " +
                               std::to_string(max_length) +
                               "; use a shorter key (hash long identifiers)");
  }
}

std::shared_ptr<LockStore> StoreFactory::operator()() const {
  if (!create) {
    throw InvalidArgumentError("the StoreFactory for driver \"" + driver +
                               "\" has no create function");
  }
  auto store = create();
  if (!store) {
    throw InvalidArgumentError("the StoreFactory for driver \"" + driver +
                               "\" returned a null store");
  }
  return store;
}

}  // namespace verrou
