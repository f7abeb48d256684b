// SPDX-License-Identifier: Apache-2.0
//
// semaphore.hpp: at most N holders of a key at once, across threads, processes and machines.
//
//   auto builds = locks.create_semaphore("report-builds", 3, 10min);  // 3 permits
//   if (builds.acquire({.retry = {.timeout = 1min}})) {
//     build_report();
//     builds.release();
//   }
//   // or: given back even when the callback throws
//   builds.run([] { build_report(); });
//   // or: kept alive while the callback runs, which learns at once if the permit is lost
//   builds.run([](std::stop_token lost) { while (!lost.stop_requested()) step(); });
//
// Each `Semaphore` object is one holder with its own owner token and lease: create one per
// worker. Works on every store that implements `SemaphoreStore` (all of verrou-cpp's).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>

#include "verrou/detail/run.hpp"
#include "verrou/duration.hpp"
#include "verrou/export.hpp"
#include "verrou/keep_alive.hpp"
#include "verrou/lock.hpp"
#include "verrou/store.hpp"

namespace verrou {

struct LockFactoryOptions;

/// The largest number of permits a semaphore may have: 2^31.
inline constexpr std::uint32_t kMaxSemaphoreLimit = std::uint32_t{1} << 31U;

/// Checks a semaphore's limit: 1 to `kMaxSemaphoreLimit`. Throws `InvalidArgumentError`
/// saying what is valid. Thread safety: pure.
VERROU_EXPORT void validate_semaphore_limit(std::uint64_t limit);

/// One holder of a permit of a counting semaphore: at most `limit()` holders of a key hold a
/// permit at once. Holders that disagree on the limit never exceed the smallest limit among
/// the holders present (`SemaphoreStore`). A holder's permit has a lease like a lock's: when
/// it runs out, the permit is free again. A semaphore and a lock of the same key never
/// disturb each other.
///
/// Made by `LockFactory::create_semaphore` (or `Verrou::create_semaphore`). Copies share the
/// key and owner (so both hold the permit or neither does).
///
/// Thread safety: all members may be called concurrently on one object; distinct objects are
/// independent.
class VERROU_EXPORT Semaphore {
 public:
  /// Normally made by `LockFactory`. Throws `InvalidArgumentError` when the store does not
  /// implement `SemaphoreStore`, or for a bad key, limit or TTL.
  Semaphore(std::string key, std::uint32_t limit, std::shared_ptr<LockStore> store,
            std::shared_ptr<const LockFactoryOptions> options, std::optional<Duration> ttl,
            std::string owner = {});

  Semaphore(const Semaphore& other);
  Semaphore& operator=(const Semaphore& other);
  Semaphore(Semaphore&& other) noexcept;
  Semaphore& operator=(Semaphore&& other) noexcept;
  ~Semaphore() = default;

  /// Takes a permit, retrying under `options` (merged over the factory's retry options) as
  /// `Lock::acquire` does. Returns true once held; false when `attempts` tries failed or
  /// `timeout` passed. Throws `InvalidArgumentError` for bad retry options,
  /// `LockStorageError` when the store fails.
  bool acquire(const AcquireOptions& options = {});

  /// Takes a permit with a single try. Returns false when none is free (or this holder
  /// already has one). Throws `LockStorageError` when the store fails.
  bool acquire_immediately();

  /// Acquires (as `acquire(options)`), calls `f`, and gives the permit back, even when `f`
  /// throws (the exception then propagates). Returns `false`/`nullopt` without calling `f`
  /// when no permit was taken; `true` or `f`'s result otherwise.
  ///
  /// `f` is called as `f()`, or as `f(std::stop_token)` when it takes one. In that form the
  /// permit is kept alive while `f` runs (as `keep_alive()`), and the token is stopped the
  /// moment the permit is lost; `f` should then stop doing what the permit guards. When the
  /// permit was lost, `run` throws `LockLostError` (a `LockNotOwnedError`) after `f` returned,
  /// instead of returning its result. For a semaphore without TTL the token is never stopped.
  ///
  /// If `f()` ran past the lease, the release throws `LockNotOwnedError` after `f` returned:
  /// the permit ran out, and someone else may have taken it meanwhile.
  template <class F>
  auto run(F&& f, const AcquireOptions& options = {});

  /// As `run`, taking the permit with a single try.
  template <class F>
  auto run_immediately(F&& f);

  /// Keeps the held permit alive from the background thread the process shares with locks'
  /// keep-alives: its lease is extended by the TTL every third of the TTL until the
  /// `KeepAlive` is stopped or destroyed (which does not give the permit back), and
  /// `remaining_time()` follows. Its `lost_token()` is stopped the moment the permit is lost:
  /// an extension refused (the lease ran out and the permit was pruned), or the store failing
  /// until the lease this object knows ran out, at the latest at that lease end. Losses are
  /// logged at warn level through the factory's logger.
  /// Throws `InvalidArgumentError` for a semaphore without TTL, or a permit this object does
  /// not hold (never acquired, given back, or its lease already ran out).
  [[nodiscard]] KeepAlive keep_alive();

  /// Gives the permit back. Throws `LockNotOwnedError` when this holder has no live permit
  /// (never acquired, released, or expired), `LockStorageError` when the store fails.
  void release();

  /// Pushes this holder's lease out to now + the TTL. Throws `InvalidArgumentError` for a
  /// semaphore without TTL, `LockNotOwnedError` when this holder has no live permit,
  /// `LockStorageError` when the store fails.
  void extend();

  /// Pushes this holder's lease out to now + `duration`. Throws as `extend()`, and
  /// `InvalidArgumentError` for a duration ≤ 0 or over `kMaxTtl`.
  void extend(Duration duration);

  /// How many holders (this one included) hold a live permit of the key now, asked of the
  /// store. Throws `LockStorageError` when the store fails.
  std::uint32_t holders();

  /// Whether the expiration time this object knows has passed. Does not ask the store.
  [[nodiscard]] bool is_expired() const;

  /// Time left until the expiration time this object knows (moved along by `extend` and by
  /// the keep-alives this object started); `nullopt` without TTL or before an acquisition.
  /// Does not ask the store.
  [[nodiscard]] std::optional<Duration> remaining_time() const;

  /// The key.
  [[nodiscard]] const std::string& key() const { return key_; }
  /// This holder's owner token: 128 random bits as 32 hex digits.
  [[nodiscard]] const std::string& owner() const { return owner_; }
  /// The most holders at once.
  [[nodiscard]] std::uint32_t limit() const { return limit_; }
  /// The lease length of a permit; `nullopt` for permits that never expire.
  [[nodiscard]] std::optional<Duration> ttl() const { return ttl_; }

  /// `std::unique_lock` support: `acquire()`, throwing `LockTimeoutError` if it gives up.
  void lock();
  /// `std::unique_lock` support: `acquire_immediately()`.
  bool try_lock() { return acquire_immediately(); }
  /// `std::unique_lock` support: `release()`.
  void unlock() { release(); }

 private:
  static constexpr std::int64_t kNoExpiration = std::numeric_limits<std::int64_t>::min();

  // The lease as this object knows it, shared with the keep-alives it starts (so that they
  // move its expiration along). A copy of the semaphore gets its own.
  struct State {
    std::atomic<std::int64_t> expiration_ms{kNoExpiration};
    std::atomic<bool> held{false};  // acquired and not given back since
  };

  std::optional<Acquired> try_once();
  void mark_acquired(const Acquired& acquired);
  void release_after_failure() noexcept;
  void release_lost() noexcept;
  KeepAlive start_keep_alive();
  [[noreturn]] void throw_lost(const KeepAlive& keep);

  friend class detail::Runner;  // run(f): the members above

  std::string key_;
  std::string owner_;
  std::uint32_t limit_;
  std::optional<Duration> ttl_;
  std::shared_ptr<State> state_;
  std::shared_ptr<LockStore> store_;
  SemaphoreStore* semaphores_ = nullptr;
  WaitableSemaphoreStore* waitable_ = nullptr;  // null when the store cannot wait
  std::shared_ptr<const LockFactoryOptions> options_;
};

template <class F>
auto Semaphore::run(F&& f, const AcquireOptions& options) {
  return detail::Runner::run(*this, f, [&] { return acquire(options); });
}

template <class F>
auto Semaphore::run_immediately(F&& f) {
  return detail::Runner::run(*this, f, [&] { return acquire_immediately(); });
}

}  // namespace verrou
