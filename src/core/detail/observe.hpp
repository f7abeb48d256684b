// SPDX-License-Identifier: Apache-2.0
// Reporting lock events to the factory's `Observer`, shared by `Lock` and `Semaphore`. With no
// observer every helper costs one pointer check; the store calls run exactly as without them.
#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "detail/acquire_loop.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/observer.hpp"

namespace verrou::detail {

// The observer of one lock or semaphore object, and the labels of its events.
struct Observed {
  Observer* observer;
  std::string_view store;
  HoldKind kind;
  std::string_view key;

  Observed(const LockFactoryOptions& options, HoldKind k, const std::string& name)
      : observer(options.observer.get()), store(options.store_name), kind(k), key(name) {}

  void store_error(StoreOperation operation, const std::exception& e) const noexcept {
    if (observer == nullptr) return;
    observer->on_store_error(StoreErrorEvent{
        .store = store, .kind = kind, .key = key, .operation = operation, .error = e.what()});
  }
};

// Runs the store call `f`, reporting a `LockStorageError` it throws as a failure of `operation`.
template <class F>
decltype(auto) store_call(const Observed& who, StoreOperation operation, F&& f) {
  try {
    return f();
  } catch (const LockStorageError& e) {
    who.store_error(operation, e);
    throw;
  }
}

// Runs the release `f`, reporting it (owned or not) or its store failure.
template <class F>
void release_call(const Observed& who, bool forced, F&& f) {
  const auto report = [&](bool owned) noexcept {
    if (who.observer == nullptr) return;
    who.observer->on_release(ReleaseEvent{
        .store = who.store, .kind = who.kind, .key = who.key, .forced = forced, .owned = owned});
  };
  try {
    f();
  } catch (const LockNotOwnedError&) {
    report(false);
    throw;
  } catch (const LockStorageError& e) {
    who.store_error(forced ? StoreOperation::force_release : StoreOperation::release, e);
    throw;
  }
  report(true);
}

// Runs the extension `f`, reporting it (owned or not) or its store failure.
template <class F>
void extend_call(const Observed& who, F&& f) {
  const auto report = [&](bool owned) noexcept {
    if (who.observer == nullptr) return;
    who.observer->on_extend(
        ExtendEvent{.store = who.store, .kind = who.kind, .key = who.key, .owned = owned});
  };
  try {
    f();
  } catch (const LockNotOwnedError&) {
    report(false);
    throw;
  } catch (const LockStorageError& e) {
    who.store_error(StoreOperation::extend, e);
    throw;
  }
  report(true);
}

// Times one acquisition and reports how it ended.
class AcquireWatch {
 public:
  explicit AcquireWatch(const Observed& who) : who_(who) {
    if (who_.observer != nullptr) start_ = std::chrono::steady_clock::now();
  }

  // What `acquire_loop` fills in; null when nobody observes.
  AcquireStats* stats() { return who_.observer != nullptr ? &stats_ : nullptr; }

  // A single try made outside `acquire_loop` (`acquire_immediately`).
  void tried_once() { ++stats_.attempts; }
  // Gave up at once behind callers of this process.
  void waited_in_line() { stats_.contended = true; }

  void done(bool acquired) const noexcept {
    report(acquired ? AcquireResult::acquired : AcquireResult::not_acquired);
  }

  void failed(const std::exception& e) const noexcept {
    if (who_.observer == nullptr) return;
    report(AcquireResult::error);
    who_.store_error(StoreOperation::acquire, e);
  }

 private:
  void report(AcquireResult result) const noexcept {
    if (who_.observer == nullptr) return;
    who_.observer->on_acquire(AcquireEvent{
        .store = who_.store,
        .kind = who_.kind,
        .key = who_.key,
        .result = result,
        .attempts = stats_.attempts,
        .contended = stats_.contended,
        .wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now() - start_),
    });
  }

  const Observed& who_;
  std::chrono::steady_clock::time_point start_{};
  AcquireStats stats_{};
};

// Runs the acquisition `f` (returning whether it acquired), reporting it.
template <class F>
bool acquire_call(AcquireWatch& watch, F&& f) {
  bool acquired = false;
  try {
    acquired = f();
  } catch (const LockStorageError& e) {
    watch.failed(e);
    throw;
  }
  watch.done(acquired);
  return acquired;
}

}  // namespace verrou::detail
