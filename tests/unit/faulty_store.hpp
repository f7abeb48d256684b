// SPDX-License-Identifier: Apache-2.0
// A memory store whose extensions (of locks and of semaphore permits) can be made to fail or
// hang on demand, recording when each extension was asked for: the keep-alive's unit tests
// hold "the store" unreachable with it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "verrou/drivers/memory.hpp"
#include "verrou/errors.hpp"
#include "verrou/store.hpp"

namespace verrou::testing_support {

class FaultyStore : public LockStore, public FencingLockStore, public SemaphoreStore {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Mode { pass, fail, hang };

  FaultyStore() : inner_(std::make_shared<MemoryStore>()) {}
  ~FaultyStore() override { set_mode(Mode::pass); }

  // fail: extend throws LockStorageError at once; hang: extend blocks until the mode changes
  // (then fails, as a call that timed out).
  void set_mode(Mode mode) {
    {
      const std::lock_guard lock(mutex_);
      mode_ = mode;
    }
    changed_.notify_all();
  }

  // Start times of the extensions that succeeded, and how many were asked for in all.
  std::vector<Clock::time_point> extended_at() const {
    const std::lock_guard lock(mutex_);
    return extended_at_;
  }
  int extend_calls() const {
    const std::lock_guard lock(mutex_);
    return extend_calls_;
  }
  int hanging() const {
    const std::lock_guard lock(mutex_);
    return hanging_;
  }

  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override {
    return inner_->save(key, owner, ttl);
  }
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<Duration> ttl) override {
    return inner_->save_fenced(key, owner, ttl);
  }
  void remove(const std::string& key, const std::string& owner) override {
    inner_->remove(key, owner);
  }
  void force_remove(const std::string& key) override { inner_->force_remove(key); }
  bool exists(const std::string& key) override { return inner_->exists(key); }
  void extend(const std::string& key, const std::string& owner, Duration duration) override {
    const auto called = before_extension("extend");
    inner_->extend(key, owner, duration);
    extended(called);
  }

  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<Duration> ttl) override {
    return inner_->save_permit(key, holder, limit, ttl);
  }
  void remove_permit(const std::string& key, const std::string& holder) override {
    inner_->remove_permit(key, holder);
  }
  void extend_permit(const std::string& key, const std::string& holder,
                     Duration duration) override {
    const auto called = before_extension("extend_permit");
    inner_->extend_permit(key, holder, duration);
    extended(called);
  }
  std::uint32_t count_permits(const std::string& key) override {
    return inner_->count_permits(key);
  }

 private:
  // Counts the call and applies the mode; returns when it was called.
  Clock::time_point before_extension(const std::string& operation) {
    const auto called = Clock::now();
    std::unique_lock lock(mutex_);
    ++extend_calls_;
    if (mode_ == Mode::fail) throw LockStorageError("injected failure (" + operation + ")");
    if (mode_ == Mode::hang) {
      ++hanging_;
      changed_.wait(lock, [&] { return mode_ != Mode::hang; });
      --hanging_;
      throw LockStorageError("injected timeout (" + operation + ")");
    }
    return called;
  }
  void extended(Clock::time_point called) {
    const std::lock_guard lock(mutex_);
    extended_at_.push_back(called);
  }

  std::shared_ptr<MemoryStore> inner_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Mode mode_ = Mode::pass;
  std::vector<Clock::time_point> extended_at_;
  int extend_calls_ = 0;
  int hanging_ = 0;
};

}  // namespace verrou::testing_support
