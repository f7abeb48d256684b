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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// A lock a store has just taken for a caller, as the capabilities below report it.
struct Acquired {
  /// The wall-clock time just before the lock was written: the lease counts from no earlier
  /// than this.
  std::chrono::system_clock::time_point written_at{};
  /// The acquisition's fencing token, from stores that give them (`FencingLockStore`);
  /// nullopt from other stores.
  std::optional<std::uint64_t> fencing_token{};
  /// Set by `save_waiting` / `save_permit_waiting` when the lock (or a permit) was not free
  /// at once and the call waited for it: reported to an `Observer` as contention.
  bool waited = false;
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
  /// Returns the acquisition (when it was written and, from a store that is also a
  /// `FencingLockStore`, its fencing token), or `nullopt` when the lock was not taken by
  /// `until`. May return `nullopt` before `until` (a spurious wake-up); the caller then tries
  /// again. Throws `LockStorageError` when the store fails.
  virtual std::optional<Acquired> save_waiting(
      const std::string& key, const std::string& owner, std::optional<Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) = 0;

  /// Whether the store itself serves the waiters of a key in `waiting_since` order (the memory
  /// store does). When false, `Lock` lines up the callers of this process itself, so they
  /// are served in order and a release in this process wakes the next one at once.
  [[nodiscard]] virtual bool serves_waiters_in_order() const noexcept { return false; }
};

/// Capability: a store that gives every acquisition a fencing token.
///
/// A fencing token lets the resource a lock protects refuse a holder whose lease has run out
/// (a paused process, a lost network): the holder sends its token with every write, and the
/// resource refuses a token lower than the highest it has seen (docs/fencing.md).
///
/// Promises a store implementing it keeps (the conformance suite checks them):
/// - for one key, every acquisition gets a token greater than every token this store's
///   data gave before for that key, in any process: after release, expiry, force release
///   and, on durable stores, a restart of the store's server;
/// - the token is produced atomically with the acquisition (one script, statement,
///   transaction or conditional write), never as a second step a crash could separate;
/// - a store that is also a `WaitableLockStore` returns the token from `save_waiting` too.
///
/// Tokens are only required to increase, not to be consecutive: a store may skip values.
///
/// Thread safety: as `LockStore`.
class FencingLockStore {
 public:
  virtual ~FencingLockStore() = default;

  /// As `LockStore::save`; returns the acquisition's fencing token when the lock was taken,
  /// `nullopt` when someone else holds it. Throws `LockStorageError` when the store fails.
  virtual std::optional<std::uint64_t> save_fenced(const std::string& key,
                                                   const std::string& owner,
                                                   std::optional<Duration> ttl) = 0;

  /// Whether this store object gives tokens. A store whose tokens depend on its
  /// configuration (a `DatabaseStore` over an adapter without token support) answers false,
  /// and `Lock` then treats it as a store without tokens. Thread safety: pure.
  [[nodiscard]] virtual bool gives_fencing_tokens() const noexcept { return true; }
};

/// Capability: counting semaphores, at most `limit` holders of a key at once (`Semaphore`).
///
/// A semaphore's data never collides with a lock of the same key: a store keeps the two
/// apart (another table, key space or item). Each holder is an owner token, as for locks.
///
/// Promises a store implementing it keeps (the conformance suite checks them):
/// - `save_permit` admits a holder only while fewer than `limit` holders with live leases
///   hold a permit of the key, and fewer than the smallest limit any of those holders was
///   admitted under, so callers that disagree on the limit never exceed the smallest;
/// - a holder's lease runs out as a lock's does, and its permit is then free again;
/// - each operation is atomic (count and add in one script, statement or transaction).
///
/// Thread safety: as `LockStore`.
class SemaphoreStore {
 public:
  virtual ~SemaphoreStore() = default;

  /// Gives `holder` a permit of `key` when one is free (see above). `ttl` is the holder's
  /// lease; `nullopt` never expires. Returns false when no permit is free, or when `holder`
  /// already holds one. Throws `LockStorageError` when the store fails.
  virtual bool save_permit(const std::string& key, const std::string& holder,
                           std::uint32_t limit, std::optional<Duration> ttl) = 0;

  /// Gives back the permit of `holder`. Throws `LockNotOwnedError` when `holder` has no live
  /// permit of `key`, `LockStorageError` when the store fails.
  virtual void remove_permit(const std::string& key, const std::string& holder) = 0;

  /// Sets the lease of `holder`'s permit to now + `duration`. Throws `LockNotOwnedError` when
  /// `holder` has no live permit of `key`, `LockStorageError` when the store fails.
  virtual void extend_permit(const std::string& key, const std::string& holder,
                             Duration duration) = 0;

  /// How many holders have a live permit of `key`. Throws `LockStorageError` when the
  /// store fails.
  virtual std::uint32_t count_permits(const std::string& key) = 0;
};

/// Capability: a semaphore store that can wait for a permit to be given back instead of being
/// polled, as `WaitableLockStore` does for locks.
///
/// Thread safety: as `LockStore`.
class WaitableSemaphoreStore {
 public:
  virtual ~WaitableSemaphoreStore() = default;

  /// Gives `holder` a permit at once if one is free; otherwise waits until one is given back
  /// (or a holder's lease runs out) and takes it then, giving up at `until`. Returns the
  /// acquisition (its `fencing_token` is unset), or `nullopt` when no permit was taken by
  /// `until` (possibly early: a spurious wake-up). Throws `LockStorageError` when the store
  /// fails.
  virtual std::optional<Acquired> save_permit_waiting(
      const std::string& key, const std::string& holder, std::uint32_t limit,
      std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) = 0;
};

/// A lock held now, as `ListableLockStore::list_locks` reports it.
struct HeldLock {
  std::string key{};
  std::string owner{};  ///< the holder's owner token
  /// Time left on the holder's lease, as the store judges it; nullopt: it never expires.
  std::optional<Duration> remaining{};
  /// The holder's fencing token, where the store keeps it beside the lock; nullopt otherwise.
  std::optional<std::uint64_t> fencing_token{};
};

/// Capability: a store that can enumerate the locks held now (`verrou list`).
///
/// Only locks are listed: a store's own bookkeeping (fencing counters, semaphore holders,
/// wake-up channels) is left out, and so are expired leases.
///
/// Thread safety: as `LockStore`.
class ListableLockStore {
 public:
  virtual ~ListableLockStore() = default;

  /// The locks held now whose key starts with `prefix` (empty: every key), sorted by key. When
  /// more than `limit` match, `limit` of them (stores that read keys in order: the first ones).
  /// The listing is not a snapshot: locks taken or released while it runs may be in or out.
  /// Throws `LockStorageError` when the store fails.
  virtual std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) = 0;

  /// Whether this store object can list. A store whose listing depends on its configuration (a
  /// `DatabaseStore` over an adapter without it) answers false, and `list_locks` then throws
  /// `InvalidArgumentError`. Thread safety: pure.
  [[nodiscard]] virtual bool lists_locks() const noexcept { return true; }
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
