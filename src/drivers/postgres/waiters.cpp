// SPDX-License-Identifier: Apache-2.0
#include "drivers/postgres/waiters.hpp"

namespace verrou::detail::pg {

std::int32_t waiter_lock_class(std::string_view table) {
  // FNV-1a (32 bits) of a name that says whose lock it is, so the class differs from the
  // small numbers applications tend to pick for their own advisory locks.
  std::uint32_t h = 2166136261U;
  for (char c : std::string_view("verrou waiters:")) {
    h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
  }
  for (char c : table) h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
  return static_cast<std::int32_t>(h);
}

std::string waiter_lock_args(std::int32_t lock_class, std::string_view key_sql) {
  return std::to_string(lock_class) + ", hashtext(" + std::string(key_sql) + ")";
}

}  // namespace verrou::detail::pg
