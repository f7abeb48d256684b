// SPDX-License-Identifier: Apache-2.0
// Fuzz target: SerializedLock::from_json on hostile text. It either throws
// InvalidArgumentError or gives a lock that survives to_json → from_json unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "verrou/errors.hpp"
#include "verrou/serialized_lock.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  verrou::SerializedLock lock;
  try {
    lock = verrou::SerializedLock::from_json(text);
  } catch (const verrou::InvalidArgumentError&) {
    return 0;
  }
  std::string json;
  try {
    json = lock.to_json();
  } catch (const verrou::InvalidArgumentError&) {
    return 0;  // e.g. bytes that JSON cannot carry; refused clearly
  }
  const verrou::SerializedLock again = verrou::SerializedLock::from_json(json);
  if (again.key != lock.key || again.owner != lock.owner || again.ttl != lock.ttl ||
      again.expiration_time != lock.expiration_time) {
    std::abort();
  }
  return 0;
}
