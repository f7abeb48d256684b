// SPDX-License-Identifier: Apache-2.0
//
// store.hpp: the lock store interface every driver implements, and its optional capabilities.
//
// A store keeps, per key, which owner holds the lock and until when. The interface is
// Verrou's; locks are used through `Lock`, not through the store:
//
//   class MyStore : public verrou::LockStore {
//    public:
//     bool save(const std::string& key, const std::string& owner,
//               std::optional<verrou::Duration> ttl) override;
//     ...
//   };
//   verrou::LockFactory locks(std::make_shared<MyStore>());
//
// `verrou::conformance` (component `verrou::testing`) checks a store against the behaviour
// described here.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"

namespace verrou {

/// The longest key accepted by the core, in bytes. Stores may accept less (SQL stores hold
/// 255 characters) and say so with `InvalidArgumentError`.
inline constexpr std::size_t kMaxKeyLength = 1024;

/// Checks a key: not empty and at most `max_length` bytes. Any bytes are allowed otherwise.
/// Throws `InvalidArgumentError` saying what was wrong. Thread safety: pure.
void validate_key(std::string_view key, std::size_t max_length = kMaxKeyLength);

/// The driver interface: where locks live. Implementations are thread-safe; one store object
/// serves every thread of a process.
///
/// Semantics every store keeps (the conformance suite checks them):
/// - a lock is held by at most one owner; a lock past its expiry is not held by anyone;
/// - locks are not re-entrant: `save` by the current owner of a held lock returns false;
/// - `remove` and `extend` only act for the current owner of a held, unexpired lock.
///
/// Thread safety: every member may be called from any thread at any time.
class LockStore {
 public:
  virtual ~LockStore() = default;

  /// Takes the lock for `owner` if nobody holds it (or its holder's lease has expired).
  /// `ttl` is the lease; `nullopt` never expires. Returns false when someone holds it.
  /// Throws `LockStorageError` when the store fails.
  virtual bool save(const std::string& key, const std::string& owner,
                    std::optional<Duration> ttl) = 0;

  /// Releases the lock held by `owner`. Throws `LockNotOwnedError` when `owner` does not
  /// hold it (never held, released, or expired), `LockStorageError` when the store fails.
  virtual void remove(const std::string& key, const std::string& owner) = 0;

  /// Releases the lock whoever holds it. Does nothing when nobody does.
  /// Throws `LockStorageError` when the store fails.
  virtual void force_remove(const std::string& key) = 0;

  /// True when someone holds the lock and its lease has not expired.
  /// Throws `LockStorageError` when the store fails.
  virtual bool exists(const std::string& key) = 0;

  /// Sets the expiry of the lock held by `owner` to now + `duration`. Throws
  /// `LockNotOwnedError` when `owner` does not hold it, `LockStorageError` when the store fails.
  virtual void extend(const std::string& key, const std::string& owner, Duration duration) = 0;
};

/// Capability: a store that can wait for a held lock to be released instead of being polled.
///
/// `Lock::acquire` uses it when the store implements it (found with `dynamic_cast`), so a
/// waiter takes the lock moments after its release rather than after a retry delay. Each call
/// counts as one attempt of `RetryOptions::attempts`.
///
/// Thread safety: as `LockStore`.
class WaitableLockStore {
 public:
  virtual ~WaitableLockStore() = default;

  /// Takes the lock for `owner` at once if it is free; otherwise waits until it is released
  /// (or its lease runs out) and takes it then, giving up at `until`.
  ///
  /// `waiting_since` is when the caller began to wait for this lock (the same value across
  /// the calls of one `acquire`); stores that queue waiters serve the earliest first, so a
  /// holder that releases and asks again does not pass a caller already waiting.
  ///
  /// Returns the wall-clock time just before the lock was written (the lease counts from no
  /// earlier than that), or `nullopt` when the lock was not taken by `until`. May return
  /// `nullopt` before `until` (a spurious wake-up); the caller then tries again.
  /// Throws `LockStorageError` when the store fails.
  virtual std::optional<std::chrono::system_clock::time_point> save_waiting(
      const std::string& key, const std::string& owner, std::optional<Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) = 0;

  /// Whether the store itself serves the waiters of a key in `waiting_since` order (the memory
  /// store does). When false, `Lock` lines up the callers of this process itself, so they
  /// are served in order and a release in this process wakes the next one at once.
  [[nodiscard]] virtual bool serves_waiters_in_order() const noexcept { return false; }
};

/// A lazy factory of a store, as `memory_store()`, `redis_store(...)` and the other drivers
/// return. `Verrou` calls it the first time a store name is used.
///
///   verrou::StoreFactory f = verrou::memory_store();
///   std::shared_ptr<verrou::LockStore> store = f();
///
/// Thread safety: calling `create` concurrently is safe when the callable is (all the
/// library's factories are).
struct StoreFactory {
  std::string driver{};  ///< the driver's name, for messages: "memory", "redis", ...
  std::function<std::shared_ptr<LockStore>()> create{};  ///< makes the store; required

  /// Makes the store. Throws `InvalidArgumentError` when `create` is empty, and whatever
  /// the driver throws when it cannot be built (bad options, unreachable server).
  std::shared_ptr<LockStore> operator()() const;
};

}  // namespace verrou
