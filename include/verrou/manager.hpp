// SPDX-License-Identifier: Apache-2.0
//
// manager.hpp: `Verrou`, named stores behind one object, as Verrou's `Verrou` class.
//
//   verrou::Verrou locks({
//       .default_store = "redis",
//       .stores = {
//           {"redis", verrou::redis_store({.connection = conn})},
//           {"memory", verrou::memory_store()},
//       },
//   });
//   auto lock = locks.create_lock("invoice:42", 10s);    // on the default store
//   auto local = locks.use("memory").create_lock("cache-fill");
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/lock.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/logger.hpp"
#include "verrou/observer.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// What `Verrou` is made from.
struct VerrouConfig {
  std::string default_store{};                  ///< name used by `create_lock`; may be empty
                                                ///< when there is exactly one store
  std::map<std::string, StoreFactory> stores{}; ///< named store factories, at least one
  std::shared_ptr<Logger> logger{};             ///< for every factory; null: no logging
  RetryOptions retry{};                         ///< default retry options of every lock
  /// Receives the lock events of every store, each named as in `stores` (docs/metrics.md);
  /// null: none.
  std::shared_ptr<Observer> observer{};
};

/// Named stores behind one object. Each store is created the first time its name is used,
/// and its `LockFactory` reused afterwards.
/// Thread safety: all members may be called concurrently; `use` returns references that stay
/// valid as long as the `Verrou` object.
class Verrou {
 public:
  /// Throws `InvalidArgumentError` when there are no stores, `default_store` names none of
  /// them (or is empty with several stores), or `retry` is invalid.
  explicit Verrou(VerrouConfig config);

  /// The factory of the store named `store`, creating the store on first use.
  /// Throws `InvalidArgumentError` for an unknown name (the message lists the known ones),
  /// and whatever the store's factory throws when it cannot be built.
  LockFactory& use(std::string_view store);

  /// `use(default_store).create_lock(...)`.
  Lock create_lock(std::string key, std::optional<Duration> ttl = kDefaultTtl);
  /// `use(default_store).create_lock(...)`, the TTL as text.
  Lock create_lock(std::string key, std::string_view ttl);
  Lock create_lock(std::string key, const char* ttl) {
    return create_lock(std::move(key), std::string_view(ttl));
  }
  /// `use(default_store).restore_lock(...)`.
  Lock restore_lock(const SerializedLock& lock);
  /// `use(default_store).create_semaphore(...)`.
  Semaphore create_semaphore(std::string key, std::uint32_t limit,
                             std::optional<Duration> ttl = kDefaultTtl);

  /// The name of the default store.
  [[nodiscard]] const std::string& default_store() const { return config_.default_store; }

 private:
  VerrouConfig config_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<LockFactory>, std::less<>> factories_;
};

}  // namespace verrou
