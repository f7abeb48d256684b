// SPDX-License-Identifier: Apache-2.0
// How waiters of the PostgreSQL store announce themselves, so that a release notifies only
// when someone may be waiting.
//
// While a key has waiters, the store's listening connection holds a shared session-level
// advisory lock on (class, hashtext(key)), where the class is derived from the table name. A
// release deletes the row, then tries to take that advisory lock exclusively for the rest of
// its transaction: when it cannot, a waiter is announced and the release sends the
// notification; when it can, nobody waits, and a waiter that announces itself afterwards
// blocks on the exclusive lock until the release has committed, so its next try sees the row
// gone. The release statement and the listener both build their SQL from the functions
// below, so the two sides always name the same lock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace verrou::detail::pg {

/// The first half of the two-integer advisory lock key of the waiters of `table` (the
/// unquoted table name). Advisory locks taken with two int4 keys never collide with those
/// taken with one bigint key.
std::int32_t waiter_lock_class(std::string_view table);

/// The arguments of the advisory lock functions for the key held in `key_sql` (an SQL
/// expression of type text or varchar): `<class>, hashtext(<key_sql>)`.
std::string waiter_lock_args(std::int32_t lock_class, std::string_view key_sql);

}  // namespace verrou::detail::pg
