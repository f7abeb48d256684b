// SPDX-License-Identifier: Apache-2.0
//
// lock.hpp: one lock on one key, as Verrou's `Lock`.
//
//   auto lock = locks.create_lock("invoice:42", 10s);
//   if (lock.acquire({.retry = {.timeout = 2s}})) {
//     charge();
//     lock.release();
//   }
//   // or: released even when the callback throws
//   std::optional<int> total = lock.run([] { return compute(); });
//   // or: kept alive while the callback runs, which learns at once if the lock is lost
//   lock.run([](std::stop_token lost) { while (!lost.stop_requested()) step(); });
//   // or: std::unique_lock<verrou::Lock> guard(lock);
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

#include "verrou/detail/run.hpp"
#include "verrou/duration.hpp"
#include "verrou/export.hpp"
#include "verrou/keep_alive.hpp"
#include "verrou/logger.hpp"
#include "verrou/serialized_lock.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// How `acquire` retries a lock that is taken. Unset fields fall back to the factory's
/// options, then to the defaults below.
struct RetryOptions {
  /// Most tries in all (the first included); default unlimited. 0 is invalid.
  std::optional<std::uint64_t> attempts{};
  /// The pause between tries, as Verrou's `retry.delay`; default 250 ms. Each pause is drawn
  /// at random from 100–125 % of it, so callers that started together drift apart instead
  /// of asking the store in step; jitter never shortens it. Stores that can wait for a
  /// release (memory, Redis, PostgreSQL) wake the waiter on release instead of sleeping it
  /// out, and wait at most this long (not jittered) per attempt.
  std::optional<Duration> delay{};
  /// Give up once this much time has passed since `acquire` began; default none.
  std::optional<Duration> timeout{};
};

/// Default pause between tries.
inline constexpr Duration kDefaultRetryDelay{250};

/// Options of `Lock::acquire` and `Lock::run`.
struct AcquireOptions {
  RetryOptions retry{};  ///< overrides the factory's retry options field by field
};

struct LockFactoryOptions;

/// A lock on one key with one owner token, over a store.
///
/// A `Lock` is a handle: copies share the key and owner (and so both hold or neither does),
/// each keeping its own idea of the expiration time. Locks come from `LockFactory::create_lock`
/// (a new random owner) or `LockFactory::restore_lock` (an owner taken over from a
/// `SerializedLock`).
///
/// Thread safety: all members may be called concurrently on one object (for example `extend`
/// from a keep-alive thread while another thread works); distinct objects are independent.
class VERROU_EXPORT Lock {
 public:
  /// Normally made by `LockFactory`. `owner` empty: a new random owner token.
  Lock(std::string key, std::shared_ptr<LockStore> store,
       std::shared_ptr<const LockFactoryOptions> options, std::optional<Duration> ttl,
       std::string owner = {}, std::optional<std::int64_t> expiration_time = std::nullopt,
       std::optional<std::uint64_t> fencing_token = std::nullopt);

  Lock(const Lock& other);
  Lock& operator=(const Lock& other);
  Lock(Lock&& other) noexcept;
  Lock& operator=(Lock&& other) noexcept;
  ~Lock() = default;

  /// Takes the lock, retrying under `options` (merged over the factory's retry options).
  /// Returns true once held; false when `attempts` tries failed or `timeout` passed.
  /// Throws `InvalidArgumentError` for attempts 0 or a negative delay or timeout,
  /// `LockStorageError` when the store fails.
  bool acquire(const AcquireOptions& options = {});

  /// Takes the lock with a single try. Returns false when it is held.
  /// Throws `LockStorageError` when the store fails.
  bool acquire_immediately();

  /// Acquires (as `acquire(options)`), calls `f`, and releases, even when `f` throws (the
  /// exception then propagates). Returns `false`/`nullopt` without calling `f` when the lock
  /// was not acquired; `true` or `f`'s result otherwise.
  ///
  /// `f` is called as `f()`, or as `f(std::stop_token)` when it takes one. In that form the
  /// lock is kept alive while `f` runs (as `keep_alive()`), and the token is stopped the
  /// moment the lock is lost; `f` should then stop touching what the lock protects. When the
  /// lock was lost, `run` throws `LockLostError` (a `LockNotOwnedError`) after `f` returned,
  /// instead of returning its result. For a lock without TTL the token is never stopped.
  ///
  /// If `f()` ran past the lease and the lock was taken by someone else meanwhile, the release
  /// throws `LockNotOwnedError` after `f` returned: the work was not protected to its end.
  template <class F>
  auto run(F&& f, const AcquireOptions& options = {});

  /// As `run`, taking the lock with a single try.
  template <class F>
  auto run_immediately(F&& f);

  /// Keeps the held lock alive from a background thread shared by the process: extended by
  /// its TTL every third of its TTL until the `KeepAlive` is stopped or destroyed (which does
  /// not release the lock). Its `lost_token()` is stopped the moment the lock is lost: an
  /// extension refused (expired, force-released), or the store failing until the lease this
  /// object knows ran out, at the latest at that lease end. Losses are logged at warn level
  /// through the factory's logger.
  /// Throws `InvalidArgumentError` for a lock without TTL, or one this object does not hold
  /// (never acquired, released, or its lease already ran out).
  [[nodiscard]] KeepAlive keep_alive();

  /// Releases the lock. Throws `LockNotOwnedError` when this owner does not hold it (never
  /// acquired, already released, or expired), `LockStorageError` when the store fails.
  void release();

  /// Releases the lock whoever holds it. Throws `LockStorageError` when the store fails.
  void force_release();

  /// Pushes the expiry out to now + the lock's TTL. Throws `InvalidArgumentError` for a
  /// lock without TTL, `LockNotOwnedError` when this owner does not hold it,
  /// `LockStorageError` when the store fails.
  void extend();

  /// Pushes the expiry out to now + `duration` (the lock's TTL stays as it was). Throws as
  /// `extend()`, and `InvalidArgumentError` for a duration ≤ 0 or over `kMaxTtl`.
  void extend(Duration duration);

  /// Whether anyone (this owner or another) holds the key now, asked of the store.
  /// Throws `LockStorageError` when the store fails.
  bool is_locked();

  /// Whether the expiration time this object knows has passed. False for a lock without
  /// TTL or not acquired yet. Does not ask the store.
  [[nodiscard]] bool is_expired() const;

  /// Time left until the expiration time this object knows, zero once passed; `nullopt`
  /// for a lock without TTL or not acquired yet. Does not ask the store.
  [[nodiscard]] std::optional<Duration> remaining_time() const;

  /// The owner token: 128 random bits from the operating system, as 32 hex digits.
  [[nodiscard]] const std::string& owner() const { return owner_; }

  /// The key.
  [[nodiscard]] const std::string& key() const { return key_; }

  /// The lease length; `nullopt` for a lock that never expires.
  [[nodiscard]] std::optional<Duration> ttl() const { return ttl_; }

  /// The fencing token of the last successful acquisition through this object (or the one a
  /// restored lock carried): greater than every token given before for this key by this
  /// store, so the resource the lock protects can refuse a holder whose lease has run out
  /// (docs/fencing.md). `nullopt` before the first acquisition, and on a store that gives no
  /// tokens (one that is not a `FencingLockStore`). Does not ask the store.
  [[nodiscard]] std::optional<std::uint64_t> fencing_token() const;

  /// The lock as plain data, for `LockFactory::restore_lock` here or in another process.
  [[nodiscard]] SerializedLock serialize() const;

  /// `std::unique_lock` support: `acquire()`, throwing `LockTimeoutError` if it gives up.
  void lock();
  /// `std::unique_lock` support: `acquire_immediately()`.
  bool try_lock() { return acquire_immediately(); }
  /// `std::unique_lock` support: `release()`.
  void unlock() { release(); }

 private:
  static constexpr std::int64_t kNoExpiration = std::numeric_limits<std::int64_t>::min();

  // The lease as this object knows it, shared with the keep-alives it starts (so that they
  // move its expiration along). A copy of the lock gets its own.
  struct State {
    std::atomic<std::int64_t> expiration_ms{kNoExpiration};
    std::atomic<bool> held{false};  // acquired (or restored) and not released since
  };

  std::optional<Acquired> try_once();
  void mark_acquired(const Acquired& acquired);
  void set_token(std::optional<std::uint64_t> token);
  void release_after_failure() noexcept;
  void release_lost() noexcept;
  KeepAlive start_keep_alive();
  [[noreturn]] void throw_lost(const KeepAlive& keep);

  friend class detail::Runner;  // run(f): the members above

  std::string key_;
  std::string owner_;
  std::optional<Duration> ttl_;
  std::shared_ptr<State> state_;
  std::atomic<std::uint64_t> token_{0};
  std::atomic<bool> has_token_{false};
  std::shared_ptr<LockStore> store_;
  WaitableLockStore* waitable_ = nullptr;  // store_ itself when it can wait, else null
  FencingLockStore* fencing_ = nullptr;    // store_ itself when it gives tokens, else null
  std::shared_ptr<const LockFactoryOptions> options_;
};

template <class F>
auto Lock::run(F&& f, const AcquireOptions& options) {
  return detail::Runner::run(*this, f, [&] { return acquire(options); });
}

template <class F>
auto Lock::run_immediately(F&& f) {
  return detail::Runner::run(*this, f, [&] { return acquire_immediately(); });
}

}  // namespace verrou
