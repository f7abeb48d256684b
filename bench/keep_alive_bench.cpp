// SPDX-License-Identifier: Apache-2.0
//
// bench_keep_alive: what keeping many locks alive costs the process.
//
//   bench_keep_alive [--store URL] [--locks N] [--ttl D] [--seconds S] [--hogs H]
//
// Takes N locks (default 10 000 on the memory store) with TTL D (default 3s), keeps each
// alive with KeepAlive, and measures over S seconds (default 10, after one TTL of warm-up):
//  - CPU: the process's user + system CPU time per second of wall time (getrusage), so 0.05
//    means 5 % of one core;
//  - lateness: for every extension, how much later than a third of the TTL after the previous
//    one of the same lock it reached the store (p50, p99, max), and the store call's own time;
//  - losses: keep-alives that reported their lock lost (expected 0).
// H threads burning CPU meanwhile (default 0) show how the schedule holds on a busy machine.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "verrou/verrou.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using verrou::Duration;

// Forwards to a store, timing each extension against the previous one of the same key.
class TimingStore final : public verrou::LockStore {
 public:
  TimingStore(std::shared_ptr<verrou::LockStore> inner, Duration interval)
      : inner_(std::move(inner)), interval_(interval) {}

  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override {
    return inner_->save(key, owner, ttl);
  }
  void remove(const std::string& key, const std::string& owner) override {
    inner_->remove(key, owner);
  }
  void force_remove(const std::string& key) override { inner_->force_remove(key); }
  bool exists(const std::string& key) override { return inner_->exists(key); }
  void extend(const std::string& key, const std::string& owner, Duration duration) override {
    const auto start = Clock::now();
    inner_->extend(key, owner, duration);
    const auto took = Clock::now() - start;
    const std::lock_guard lock(mutex_);
    auto& last = last_[key];
    if (recording_ && last != Clock::time_point()) {
      lateness_us_.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(start - last - interval_).count());
      call_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    }
    last = start;
  }

  void record(bool on) {
    const std::lock_guard lock(mutex_);
    recording_ = on;
  }
  std::vector<long long> lateness() {
    const std::lock_guard lock(mutex_);
    return lateness_us_;
  }
  std::vector<long long> calls() {
    const std::lock_guard lock(mutex_);
    return call_us_;
  }

 private:
  std::shared_ptr<verrou::LockStore> inner_;
  Duration interval_;
  std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> last_;
  bool recording_ = false;
  std::vector<long long> lateness_us_;
  std::vector<long long> call_us_;
};

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long long percentile(std::vector<long long>& values, double p) {
  if (values.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                   values.end());
  return values[index];
}

std::string ms(long long us) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f ms", static_cast<double>(us) / 1000.0);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url = "memory:";
  long count = 10000;
  Duration ttl{3000};
  double seconds = 10;
  int hogs = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const std::string value = argv[i + 1];
    if (name == "--store") {
      url = value;
    } else if (name == "--locks") {
      count = std::stol(value);
    } else if (name == "--ttl") {
      ttl = verrou::parse_duration(value);
    } else if (name == "--seconds") {
      seconds = std::stod(value);
    } else if (name == "--hogs") {
      hogs = std::stoi(value);
    } else {
      std::cerr << "usage: bench_keep_alive [--store URL] [--locks N] [--ttl D] [--seconds S] "
                   "[--hogs H]\n";
      return 2;
    }
  }
  const Duration interval = std::max(ttl / 3, Duration(1));
  auto store = std::make_shared<TimingStore>(verrou::open_store(url), interval);
  verrou::LockFactory locks(store);
  std::vector<verrou::Lock> held;
  std::vector<verrou::KeepAlive> keeps;
  held.reserve(static_cast<std::size_t>(count));
  keeps.reserve(static_cast<std::size_t>(count));
  const std::string prefix = "bench-keep-alive:" + std::to_string(::getpid()) + ":";
  const auto setup_start = Clock::now();
  for (long i = 0; i < count; ++i) {
    held.push_back(locks.create_lock(prefix + std::to_string(i), ttl));
    if (!held.back().acquire_immediately()) {
      std::cerr << "could not take " << held.back().key() << "\n";
      return 1;
    }
    keeps.push_back(held.back().keep_alive());
  }
  const auto setup = Clock::now() - setup_start;
  long lost_in_setup = 0;
  for (const auto& k : keeps) lost_in_setup += k.lost() ? 1 : 0;
  std::atomic<bool> done{false};
  std::vector<std::thread> burners;
  for (int i = 0; i < hogs; ++i) {
    burners.emplace_back([&] {
      volatile std::uint64_t x = 0;
      while (!done.load(std::memory_order_relaxed)) x = x + 1;
    });
  }
  std::this_thread::sleep_for(ttl);  // warm-up: every lock extended once
  store->record(true);
  const double cpu_before = cpu_seconds();
  const auto wall_before = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double cpu = cpu_seconds() - cpu_before;
  const double wall = std::chrono::duration<double>(Clock::now() - wall_before).count();
  store->record(false);
  done = true;
  for (auto& t : burners) t.join();
  long lost = 0;
  std::string reason;
  for (const auto& k : keeps) {
    if (k.lost()) {
      ++lost;
      if (reason.empty()) reason = k.lost_reason();
    }
  }
  for (auto& k : keeps) k.stop();
  for (auto& l : held) {
    try {
      l.release();
    } catch (const verrou::Error&) {
    }
  }
  auto late = store->lateness();
  auto calls = store->calls();
  std::cout << "keep-alive " << verrou::redact_url(url) << ": " << count << " locks, TTL "
            << verrou::format_duration(ttl) << " (extension every "
            << verrou::format_duration(interval) << "), " << hogs << " CPU hogs, " << seconds
            << " s\n"
            << "  extensions: " << late.size() << " ("
            << static_cast<long long>(static_cast<double>(late.size()) / wall) << "/s)\n"
            << "  CPU: ";
  if (hogs == 0) {
    std::cout << cpu / wall << " s per s ("
              << (late.empty() ? 0.0 : cpu / static_cast<double>(late.size()) * 1e6)
              << " µs per extension, store included)\n";
  } else {
    std::cout << "not measured with CPU hogs (their time is the process's too)\n";
  }
  std::cout
            << "  lateness: p50 " << ms(percentile(late, 0.5)) << ", p99 "
            << ms(percentile(late, 0.99)) << ", max " << ms(percentile(late, 1.0)) << "\n"
            << "  store call: p50 " << ms(percentile(calls, 0.5)) << ", p99 "
            << ms(percentile(calls, 0.99)) << "\n"
            << "  lost: " << lost << " (" << lost_in_setup << " while the "
            << std::chrono::duration_cast<std::chrono::milliseconds>(setup).count()
            << " ms setup ran)" << (reason.empty() ? "" : ": " + reason) << "\n";
  return lost == 0 ? 0 : 1;
}
