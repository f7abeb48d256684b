// SPDX-License-Identifier: Apache-2.0
// What the keep-alive unit tests of locks and semaphores share: a logger that records, the
// moment a lost token was stopped, waiting for a condition, and retrying a timing check.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "verrou/logger.hpp"

namespace verrou::testing_support {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class RecordingLogger : public Logger {
 public:
  [[nodiscard]] bool enabled(LogLevel level) const noexcept override {
    return level >= LogLevel::info;
  }
  void log(LogLevel level, std::string_view message,
           std::initializer_list<LogField> fields) noexcept override {
    std::string line = std::string(to_string(level)) + " " + std::string(message);
    for (const auto& f : fields) line += " " + std::string(f.name) + "=" + f.value;
    const std::lock_guard lock(mutex_);
    lines_.push_back(line);
  }
  std::vector<std::string> lines() const {
    const std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// When a token was stopped, seen from a callback (which runs the moment it is stopped).
class LossClock {
 public:
  explicit LossClock(std::stop_token token)
      : callback_(std::move(token),
                  [this] { at_.store(SteadyClock::now().time_since_epoch().count()); }) {}
  [[nodiscard]] bool fired() const { return at_.load() != 0; }
  [[nodiscard]] SteadyClock::time_point at() const {
    return SteadyClock::time_point(SteadyClock::duration(at_.load()));
  }

 private:
  std::atomic<SteadyClock::rep> at_{0};
  std::stop_callback<std::function<void()>> callback_;
};

inline bool wait_until(const std::function<bool()>& condition,
                       SteadyClock::duration timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!condition()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Runs `attempt` (which returns what went wrong, or "" when all went well) up to `tries`
// times: on a machine that does not run this process for a while, a timing check cannot pass
// whatever the code does, but a broken one fails every try.
inline void eventually(int tries, const std::function<std::string()>& attempt) {
  std::string failures;
  for (int i = 0; i < tries; ++i) {
    const std::string failure = attempt();
    if (failure.empty()) return;
    failures += "\n  try " + std::to_string(i + 1) + ": " + failure;
  }
  ADD_FAILURE() << "failed every try:" << failures;
}

}  // namespace verrou::testing_support
