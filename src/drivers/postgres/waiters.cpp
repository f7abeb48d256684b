// SPDX-License-Identifier: Apache-2.0
#include "drivers/postgres/waiters.hpp"

#include "drivers/database/dialect.hpp"

namespace verrou::detail::pg {

// The names live in the SQL dialect layer, which writes the release statements of every
// adapter (native and SOCI) that must take these same locks.
std::int32_t waiter_lock_class(std::string_view table) {
  return sql::postgres_waiter_lock_class(table);
}

std::string waiter_lock_args(std::int32_t lock_class, std::string_view key_sql) {
  return sql::postgres_waiter_lock_args(lock_class, key_sql);
}

}  // namespace verrou::detail::pg
