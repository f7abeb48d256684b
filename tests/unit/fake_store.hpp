// SPDX-License-Identifier: Apache-2.0
// A scriptable LockStore for unit tests of the core: records calls, answers as told.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "verrou/errors.hpp"
#include "verrou/store.hpp"

namespace verrou::testing_support {

class FakeStore : public LockStore {
 public:
  std::atomic<int> saves{0};
  std::atomic<int> removes{0};
  std::atomic<bool> save_result{true};
  std::atomic<bool> remove_throws_not_owned{false};
  std::mutex mutex;
  std::vector<Duration> extends;          // durations passed to extend
  std::vector<std::optional<Duration>> save_ttls;

  bool save(const std::string&, const std::string&, std::optional<Duration> ttl) override {
    saves++;
    const std::lock_guard lock(mutex);
    save_ttls.push_back(ttl);
    return save_result.load();
  }
  void remove(const std::string& key, const std::string&) override {
    removes++;
    if (remove_throws_not_owned) throw LockNotOwnedError("not owner of " + key);
  }
  void force_remove(const std::string&) override {}
  bool exists(const std::string&) override { return false; }
  void extend(const std::string&, const std::string&, Duration d) override {
    const std::lock_guard lock(mutex);
    extends.push_back(d);
  }
};

// A fake that can also wait: records the `until` of each waiting attempt.
class FakeWaitableStore : public FakeStore, public WaitableLockStore {
 public:
  std::atomic<int> waits{0};
  std::vector<std::chrono::steady_clock::time_point> untils;

  std::optional<Acquired> save_waiting(
      const std::string&, const std::string&, std::optional<Duration>,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point) override {
    waits++;
    {
      const std::lock_guard lock(mutex);
      untils.push_back(until);
    }
    if (save_result) return Acquired{.written_at = std::chrono::system_clock::now()};
    std::this_thread::sleep_until(until);  // "nobody released it"
    return std::nullopt;
  }
};

}  // namespace verrou::testing_support
