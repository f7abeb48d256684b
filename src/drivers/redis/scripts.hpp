// SPDX-License-Identifier: Apache-2.0
// The Lua scripts the Redis store runs: each one step the server performs atomically.
#pragma once

#include <string>

namespace verrou::detail::redis {

/// A Lua script, sent as EVALSHA, and as EVAL when the server does not know it yet.
struct Script {
  explicit Script(std::string text);
  std::string body;
  std::string sha1;  ///< lower-case hex
};

/// Save: takes the lock and gives it a fencing token, or says how long the holder has left.
///   KEYS: lock, fencing counter, void marker of this attempt
///   ARGV: owner, lease in ms ("" for none), how long the counter is kept in ms
///   Returns {1, token} (taken), {0, PTTL of the lock} (held), {-1, 0} (this attempt voided).
const Script& save_script();

/// Save while the lock's slot is being moved between cluster nodes, where a script of several
/// keys is refused (TRYAGAIN) until every key has moved: the lock key alone, the token from
/// the server's clock (microseconds; the fencing counter, elsewhere for now, is not read).
///   KEYS: lock   ARGV: owner, lease in ms ("" for none)   Returns as save_script.
const Script& save_while_slot_moves_script();

/// Release: deletes the lock if `owner` holds it, and announces it.
///   KEYS: lock   ARGV: owner, release channel   Returns 1 (released) or 0 (not held by owner).
const Script& release_script();

/// Forced release: deletes the lock whoever holds it, and announces it.
///   KEYS: lock   ARGV: release channel   Returns 1.
const Script& force_release_script();

/// Extend: sets a new lease if `owner` holds the lock.
///   KEYS: lock   ARGV: owner, lease in ms   Returns 1 (extended) or 0 (not held by owner).
const Script& extend_script();

/// Settles a save whose reply was lost: voids the attempt (so it takes nothing should it
/// still arrive), and releases the lock if the attempt took it.
///   KEYS: lock, void marker   ARGV: owner, release channel, void marker lifetime in ms
///   Returns 1 (it had taken the lock: released) or 0.
const Script& void_save_script();

// Semaphores. Each script first drops the holders whose lease has ended (by the server's
// clock, in ms), and sets the semaphore's keys to expire when the last lease ends.

/// Save a permit: admits `holder` while there are fewer holders than the smallest limit among
/// them and its own.
///   KEYS: holders, limits, void marker of this attempt   ARGV: holder, limit, lease in ms ("")
///   Returns {1, 0} (admitted), {0, ms until the first lease ends, or -1} (full), {0, -3}
///   (this holder already has a permit), {-1, 0} (this attempt voided).
const Script& save_permit_script();

/// Give a permit back.
///   KEYS: holders, limits   ARGV: holder, permit channel   Returns 1 (given back) or 0.
const Script& remove_permit_script();

/// Extend a permit's lease.
///   KEYS: holders, limits   ARGV: holder, lease in ms   Returns 1 or 0 (no live permit).
const Script& extend_permit_script();

/// Count the live permits (no write).
///   KEYS: holders   Returns the count.
const Script& count_permits_script();

/// Settles a permit save whose reply was lost (as void_save_script for locks).
///   KEYS: holders, limits, void marker   ARGV: holder, permit channel, marker lifetime in ms
const Script& void_permit_script();

}  // namespace verrou::detail::redis
