// SPDX-License-Identifier: Apache-2.0
// The StoreFactory every driver's `<name>_store(options)` returns: the options kept, the store
// built from them each time the factory is called.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "verrou/store.hpp"

namespace verrou::detail {

// A factory named `driver` that calls `make(options)` to build each store. `make` returns a
// shared pointer to a LockStore or to a class derived from it.
template <class Options, class Make>
StoreFactory store_factory(std::string driver, Options options, Make make) {
  return StoreFactory{
      .driver = std::move(driver),
      .create = [options = std::move(options), make]() -> std::shared_ptr<LockStore> {
        return make(options);
      }};
}

// A factory named `driver` that builds each store as `std::make_shared<Store>(options)`.
template <class Store, class Options>
StoreFactory store_factory(std::string driver, Options options) {
  return store_factory(std::move(driver), std::move(options),
                       [](const Options& o) { return std::make_shared<Store>(o); });
}

}  // namespace verrou::detail
