// SPDX-License-Identifier: Apache-2.0
//
// semaphore.hpp: at most N holders of a key at once, across threads, processes and machines.
//
//   auto builds = locks.create_semaphore("report-builds", 3, 10min);  // 3 permits
//   if (builds.acquire({.retry = {.timeout = 1min}})) {
//     build_report();
//     builds.release();
//   }
//   // or: released even when the callback throws
//   builds.run([] { build_report(); });
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
#include <string>
#include <type_traits>
#include <utility>

#include "verrou/duration.hpp"
#include "verrou/lock.hpp"
#include "verrou/store.hpp"

namespace verrou {

struct LockFactoryOptions;

/// The largest number of permits a semaphore may have: 2^31.
inline constexpr std::uint32_t kMaxSemaphoreLimit = std::uint32_t{1} << 31U;

/// Checks a semaphore's limit: 1 to `kMaxSemaphoreLimit`. Throws `InvalidArgumentError`
/// saying what is valid. Thread safety: pure.
void validate_semaphore_limit(std::uint64_t limit);

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
class Semaphore {
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
  /// throws. Returns `false`/`nullopt` without calling `f` when no permit was taken; `true`
  /// or `f`'s result otherwise. When the permit ran out while `f` ran, the release throws
  /// `LockNotOwnedError` after `f` returned.
  template <class F>
  auto run(F&& f, const AcquireOptions& options = {});

  /// As `run`, taking the permit with a single try.
  template <class F>
  auto run_immediately(F&& f);

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

  /// Time left until the expiration time this object knows; `nullopt` without TTL or
  /// before an acquisition. Does not ask the store.
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

  std::optional<Acquired> try_once();
  void mark_acquired(const Acquired& acquired);
  void release_after_failure() noexcept;

  template <class F>
  auto run_held(F& f);

  std::string key_;
  std::string owner_;
  std::uint32_t limit_;
  std::optional<Duration> ttl_;
  std::atomic<std::int64_t> expiration_ms_{kNoExpiration};
  std::shared_ptr<LockStore> store_;
  SemaphoreStore* semaphores_ = nullptr;
  WaitableSemaphoreStore* waitable_ = nullptr;  // null when the store cannot wait
  std::shared_ptr<const LockFactoryOptions> options_;
};

template <class F>
auto Semaphore::run_held(F& f) {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    try {
      std::invoke(f);
    } catch (...) {
      release_after_failure();
      throw;
    }
    release();
    return true;
  } else {
    std::optional<detail::run_value_t<F>> result;
    try {
      result.emplace(std::invoke(f));
    } catch (...) {
      release_after_failure();
      throw;
    }
    release();
    return result;
  }
}

template <class F>
auto Semaphore::run(F&& f, const AcquireOptions& options) {
  using R = std::invoke_result_t<F&>;
  if (!acquire(options)) {
    if constexpr (std::is_void_v<R>) {
      return false;
    } else {
      return std::optional<detail::run_value_t<F>>{};
    }
  }
  return run_held(f);
}

template <class F>
auto Semaphore::run_immediately(F&& f) {
  using R = std::invoke_result_t<F&>;
  if (!acquire_immediately()) {
    if constexpr (std::is_void_v<R>) {
      return false;
    } else {
      return std::optional<detail::run_value_t<F>>{};
    }
  }
  return run_held(f);
}

}  // namespace verrou
