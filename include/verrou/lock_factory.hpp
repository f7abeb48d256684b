// SPDX-License-Identifier: Apache-2.0
//
// lock_factory.hpp: makes locks over one store, as Verrou's `LockFactory`.
//
//   verrou::LockFactory locks(verrou::memory_store()(), {.retry = {.timeout = 5s}});
//   auto lock = locks.create_lock("report", 1min);
//   auto same = locks.restore_lock(lock.serialize());
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/lock.hpp"
#include "verrou/semaphore.hpp"
#include "verrou/logger.hpp"
#include "verrou/observer.hpp"
#include "verrou/serialized_lock.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// Options shared by every lock of a factory.
struct LockFactoryOptions {
  RetryOptions retry{};             ///< defaults for `acquire`; unset fields use the library's
  std::shared_ptr<Logger> logger{}; ///< where debug records go; null: no logging
  /// Receives the lock events (acquisitions, releases, extensions, losses, store errors) for
  /// metrics (docs/metrics.md); null (the default): none, at the cost of one pointer check.
  std::shared_ptr<Observer> observer{};
  /// The store's name in the events given to `observer`; empty: "default". `Verrou` sets it to
  /// the name the store has in `VerrouConfig::stores`.
  std::string store_name{};
};

/// Makes `Lock`s over one store. Thread safety: all members may be called concurrently.
class LockFactory {
 public:
  /// Throws `InvalidArgumentError` when `store` is null, or `options.retry` is invalid
  /// (attempts 0, negative delay or timeout).
  explicit LockFactory(std::shared_ptr<LockStore> store, LockFactoryOptions options = {});

  /// A new lock on `key` with a new random owner, not yet acquired.
  /// `ttl`: lease length, default 30 s; `verrou::forever` never expires.
  /// Throws `InvalidArgumentError` for an empty key, a key over `kMaxKeyLength` bytes, or a
  /// TTL ≤ 0 or over `kMaxTtl`.
  [[nodiscard]] Lock create_lock(std::string key, std::optional<Duration> ttl = kDefaultTtl) const;

  /// As above with the TTL as text: `"10s"`, `"1.5m"`, `"500"` (ms), or `"forever"`.
  /// Throws `InvalidArgumentError` for text `parse_ttl` rejects, and as above.
  [[nodiscard]] Lock create_lock(std::string key, std::string_view ttl) const;
  [[nodiscard]] Lock create_lock(std::string key, const char* ttl) const {
    return create_lock(std::move(key), std::string_view(ttl));
  }

  /// A lock with the key, owner, TTL and expiration time of `lock`, as serialized by this or
  /// another process (C++ or Node.js). It can release and extend the original's lock.
  /// Throws `InvalidArgumentError` for an invalid key, owner or TTL.
  [[nodiscard]] Lock restore_lock(const SerializedLock& lock) const;

  /// A new holder of a permit of the semaphore `key` (at most `limit` holders at once), with
  /// a new random owner, not yet acquired. `ttl`: the lease of a permit, default 30 s;
  /// `verrou::forever` never expires. Throws `InvalidArgumentError` for an empty or too long
  /// key, a limit of 0 or over `kMaxSemaphoreLimit`, a TTL ≤ 0 or over `kMaxTtl`, or a store
  /// without semaphores (not a `SemaphoreStore`).
  [[nodiscard]] Semaphore create_semaphore(std::string key, std::uint32_t limit,
                                           std::optional<Duration> ttl = kDefaultTtl) const;

  /// The store this factory makes locks over.
  [[nodiscard]] const std::shared_ptr<LockStore>& store() const { return store_; }

  /// The options in force (logger never null).
  [[nodiscard]] const LockFactoryOptions& options() const { return *options_; }

 private:
  std::shared_ptr<LockStore> store_;
  std::shared_ptr<const LockFactoryOptions> options_;
};

/// Checks retry options: attempts not 0, delay and timeout not negative.
/// Throws `InvalidArgumentError` saying which field was wrong. Thread safety: pure.
void validate_retry(const RetryOptions& retry);

}  // namespace verrou
