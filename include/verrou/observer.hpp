// SPDX-License-Identifier: Apache-2.0
//
// observer.hpp: the metrics interface the library reports lock activity through.
//
// The default is no observer at all (one pointer check per operation). To count what locks do,
// pass an observer to `Verrou` or `LockFactory`; `verrou/observers/prometheus.hpp` exports the
// events as Prometheus metrics (docs/metrics.md), and any class overriding some of the `on_…`
// members below can feed another system:
//
//   struct Counting : verrou::Observer {
//     std::atomic<int> lost{0};
//     void on_lost(const verrou::LostEvent&) noexcept override { ++lost; }
//   };
//   verrou::Verrou locks({.default_store = "redis",
//                         .stores = {{"redis", verrou::redis_store({...})}},
//                         .observer = std::make_shared<Counting>()});
//
// Every event names the store it happened on (`store`: the name given in `VerrouConfig::stores`,
// or `LockFactoryOptions::store_name`) and what was held (`kind`: a lock or a semaphore permit).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace verrou {

/// What an event is about: a lock, or a permit of a semaphore.
enum class HoldKind { lock, semaphore };

/// "lock" or "semaphore".
constexpr std::string_view to_string(HoldKind kind) noexcept {
  return kind == HoldKind::lock ? "lock" : "semaphore";
}

/// How an `acquire`, `acquire_immediately` or `run` ended.
enum class AcquireResult {
  acquired,      ///< the lock (or a permit) is held
  not_acquired,  ///< held by someone else until the attempts or the timeout ran out
  error,         ///< the store failed (the call threw `LockStorageError`)
};

/// "acquired", "not_acquired", "error".
constexpr std::string_view to_string(AcquireResult result) noexcept {
  switch (result) {
    case AcquireResult::acquired: return "acquired";
    case AcquireResult::not_acquired: return "not_acquired";
    case AcquireResult::error: return "error";
  }
  return "error";
}

/// The store operations whose failures are reported (`on_store_error`).
enum class StoreOperation { acquire, release, force_release, extend, exists, count };

/// "acquire", "release", "force_release", "extend", "exists", "count".
constexpr std::string_view to_string(StoreOperation operation) noexcept {
  switch (operation) {
    case StoreOperation::acquire: return "acquire";
    case StoreOperation::release: return "release";
    case StoreOperation::force_release: return "force_release";
    case StoreOperation::extend: return "extend";
    case StoreOperation::exists: return "exists";
    case StoreOperation::count: return "count";
  }
  return "acquire";
}

/// One acquisition: an `acquire` (all its attempts) or an `acquire_immediately`.
struct AcquireEvent {
  std::string_view store{};  ///< the store's name
  HoldKind kind = HoldKind::lock;
  std::string_view key{};
  AcquireResult result = AcquireResult::acquired;
  /// Tries made of the store (at least 1; 0 when the call gave up before asking the store,
  /// e.g. its timeout passed while callers of this process ahead of it held the line).
  std::uint64_t attempts = 0;
  /// Whether the acquisition had to wait: more than one try, a wait behind other callers of
  /// this process, or a store that waited for a release inside one try.
  bool contended = false;
  /// From the call's start to its outcome (steady clock).
  std::chrono::nanoseconds wait{};
};

/// One `release` or `force_release` that reached the store.
struct ReleaseEvent {
  std::string_view store{};
  HoldKind kind = HoldKind::lock;
  std::string_view key{};
  bool forced = false;  ///< `force_release`
  /// False when the store said this owner did not hold it (`LockNotOwnedError` thrown).
  bool owned = true;
};

/// One `extend` that reached the store (a keep-alive's extensions included).
struct ExtendEvent {
  std::string_view store{};
  HoldKind kind = HoldKind::lock;
  std::string_view key{};
  /// False when the store said this owner did not hold it (`LockNotOwnedError` thrown).
  bool owned = true;
};

/// A lease a `KeepAlive` kept was lost (its `lost_token()` was just stopped).
struct LostEvent {
  std::string_view store{};
  HoldKind kind = HoldKind::lock;
  std::string_view key{};
  std::string_view reason{};  ///< as `KeepAlive::lost_reason()`
};

/// A store operation failed with `LockStorageError`.
struct StoreErrorEvent {
  std::string_view store{};
  HoldKind kind = HoldKind::lock;
  std::string_view key{};
  StoreOperation operation = StoreOperation::acquire;
  std::string_view error{};  ///< the error's `what()`
};

/// Receives the library's lock events, for metrics. Every member has a no-op default: override
/// those wanted. The library calls them on the thread doing the work (a keep-alive's worker
/// thread for its extensions and losses), after the operation, so they must be quick and must
/// not throw; the views in an event are valid only during the call.
///
/// Thread safety: implementations must be thread-safe.
class Observer {
 public:
  Observer() = default;
  Observer(const Observer&) = default;
  Observer& operator=(const Observer&) = default;
  Observer(Observer&&) = default;
  Observer& operator=(Observer&&) = default;
  virtual ~Observer() = default;

  /// An acquisition ended (acquired, gave up, or the store failed).
  virtual void on_acquire(const AcquireEvent& /*event*/) noexcept {}
  /// A release reached the store.
  virtual void on_release(const ReleaseEvent& /*event*/) noexcept {}
  /// An extension reached the store.
  virtual void on_extend(const ExtendEvent& /*event*/) noexcept {}
  /// A kept-alive lease was lost.
  virtual void on_lost(const LostEvent& /*event*/) noexcept {}
  /// A store operation failed.
  virtual void on_store_error(const StoreErrorEvent& /*event*/) noexcept {}
};

}  // namespace verrou
