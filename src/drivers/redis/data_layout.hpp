// SPDX-License-Identifier: Apache-2.0
// Where the Redis store keeps what it keeps, named in one place: the lock keys (Verrou's own),
// the fencing counters and void markers beside them, and the release channels.
#pragma once

#include <string>
#include <string_view>

#include "verrou/duration.hpp"

namespace verrou::detail::redis {

/// The fencing counter of the lock at `lock_key` (the key with its prefix):
/// `verrou:fence:{<tag>}:<lock_key>`, where <tag> is the hash tag of the lock key's slot, so
/// the counter lives in the lock's slot on a cluster whatever braces the key contains.
std::string fence_key(std::string_view lock_key);

/// The void marker of one attempt to take `lock_key`: `verrou:void:{<tag>}:<attempt>`. A save
/// whose outcome was lost is voided by writing it: the save, should it still arrive, then
/// takes nothing.
std::string void_key(std::string_view lock_key, std::string_view attempt);

/// The holders of the semaphore named `semaphore_key` (the key with its prefix): a sorted
/// set `verrou:semaphore:{<tag>}:<key>`, holder → end of its lease in ms of the server's
/// clock (`inf` without one). Apart from the lock of the same name.
std::string semaphore_holders_key(std::string_view semaphore_key);
/// The limit each holder was admitted under: a hash `verrou:semaphore-limits:{<tag>}:<key>`,
/// in the same slot as the holders.
std::string semaphore_limits_key(std::string_view semaphore_key);
/// The channel on which a permit given back is announced: `verrou:permits:<key>`
/// (`verrou:permits@<db>:<key>` in database `db` other than 0).
std::string permit_channel(std::string_view semaphore_key, int database);

/// How long a fencing counter is kept after the last acquisition that used it. A counter
/// that is gone starts again from the server's clock (microseconds), which is past every
/// token it gave, so a lost counter never makes tokens go back.
inline constexpr Duration kFenceKeptFor = std::chrono::hours(24 * 7);

/// How long a void marker is kept: longer than any command can stay on its way.
inline constexpr Duration kVoidKeptFor = std::chrono::hours(1);

/// Whether `key` is one of the store's own keys beside the locks (a fencing counter, a void
/// marker, a semaphore's holders or limits), which a listing of locks leaves out.
bool is_store_key(std::string_view key);

/// The channel on which the release of `lock_key` is announced: `verrou:released:<key>` in
/// database 0, `verrou:released@<db>:<key>` in another (channels are shared by every
/// database of a server).
std::string release_channel(std::string_view lock_key, int database);

}  // namespace verrou::detail::redis
