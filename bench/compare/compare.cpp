// SPDX-License-Identifier: Apache-2.0
//
// The verrou-cpp half of the side-by-side comparison with @verrou/core (bench/compare/run.sh
// runs both halves and prints the table). The workloads are those of compare.mjs, call for call:
//
//   cycle      one worker: acquire() + release() on one lock, over and over
//   parallel   32 workers, each on its own key, one shared store
//   handoff    two workers on one key, each: acquire({retry.delay}) → hold 1 ms → release()
//   is_locked  is_locked() on a held key, over and over
//
// and, verrou-cpp only (@verrou/core has no semaphores), on a semaphore of 8 permits:
//
//   semaphore_cycle     one worker: acquire() + release() of a permit, over and over
//   semaphore_parallel  32 workers on one semaphore of 8 permits, each: acquire() → hold 1 ms
//                       → release(), over and over (the others wait for a permit as callers
//                       would); at most 8 000 cycles/s, which a store reaches when taking
//                       and giving back a permit costs nothing
//
//   verrou_compare --store URL [--seconds 3] [--workers 32] [--delays 250,10] [--only cycle,...]
//
// Prints one JSON object per workload on stdout (rates per second, latencies in µs). On a
// store without semaphores the semaphore workloads print {"error":"no semaphores"}.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "verrou/verrou.hpp"
#if defined(VERROU_HAS_DYNAMODB)
#include "verrou/drivers/dynamodb.hpp"
#endif

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  double seconds = 3;
  int workers = 32;
  std::vector<int> delays{250, 10};
  std::string only;
};

std::int64_t ns_since(Clock::time_point origin, Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin).count();
}

// The q-quantile (0..1) of `v` in µs; 0 when empty.
double quantile_us(std::vector<std::int64_t> v, double q) {
  if (v.empty()) return 0;
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return static_cast<double>(v[i]) / 1000.0;
}

// CPU time (user + system, all threads) this process has used, in µs: the client's own cost,
// which a busy machine does not inflate the way it does wall-clock rates.
double cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return us(u.ru_utime) + us(u.ru_stime);
}

std::string store_kind(const std::string& url) { return url.substr(0, url.find(':')); }

std::shared_ptr<verrou::LockStore> open(const std::string& url) {
#if defined(VERROU_HAS_DYNAMODB)
  if (store_kind(url) == "dynamodb") {
    auto options = verrou::DynamoDbStoreOptions::from_url(url);
    // Local test servers check no signatures; the Node.js side uses the same key.
    if (!std::getenv("AWS_ACCESS_KEY_ID")) {
      options.credentials = verrou::AwsCredentials{"verrouTests", "verrouTestsSecret", ""};
    }
    return std::make_shared<verrou::DynamoDbStore>(std::move(options));
  }
#endif
  return verrou::open_store(url);
}

std::string key(const std::string& name) {
  return "verrou-compare:cpp:" + std::to_string(::getpid()) + ":" + name;
}

void emit(const std::string& json) { std::cout << json << std::endl; }

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void cycle(verrou::LockFactory& locks, const Options& o) {
  auto lock = locks.create_lock(key("cycle"), 30s);
  // Warm up: connections opened, statements prepared, as on the Node.js side.
  for (int i = 0; i < 20; ++i) {
    lock.acquire();
    lock.release();
  }
  std::vector<std::int64_t> lat;
  lat.reserve(1 << 20);
  const double cpu0 = cpu_us();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  auto now = start;
  while (now < end) {
    const auto t0 = now;
    if (!lock.acquire()) throw std::runtime_error("cycle: not acquired");
    lock.release();
    now = Clock::now();
    lat.push_back(ns_since(t0, now));
  }
  const double cpu1 = cpu_us();
  const double elapsed = std::chrono::duration<double>(now - start).count();
  emit("{\"workload\":\"cycle\",\"rate\":" + num(static_cast<double>(lat.size()) / elapsed) +
       ",\"p50_us\":" + num(quantile_us(lat, 0.5)) + ",\"p99_us\":" + num(quantile_us(lat, 0.99)) +
       ",\"cpu_us\":" + num((cpu1 - cpu0) / static_cast<double>(lat.size())) +
       ",\"count\":" + std::to_string(lat.size()) + "}");
}

void parallel(verrou::LockFactory& locks, const Options& o) {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(o.workers), 0);
  std::mutex error_mutex;
  std::string error;
  std::vector<std::thread> threads;
  for (int w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      try {
        auto lock = locks.create_lock(key("parallel:" + std::to_string(w)), 30s);
        lock.acquire();  // warm up: this worker's connection
        lock.release();
        ready.fetch_add(1);
        while (!go.load()) std::this_thread::yield();
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          if (!lock.acquire()) throw std::runtime_error("parallel: not acquired");
          lock.release();
          ++n;
        }
        counts[static_cast<std::size_t>(w)] = n;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> guard(error_mutex);
        error = e.what();
        ready.fetch_add(1);
      }
    });
  }
  while (ready.load() < o.workers) std::this_thread::sleep_for(1ms);
  const double cpu0 = cpu_us();
  const auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double cpu1 = cpu_us();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (!error.empty()) throw std::runtime_error(error);
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  emit("{\"workload\":\"parallel\",\"workers\":" + std::to_string(o.workers) +
       ",\"rate\":" + num(static_cast<double>(total) / elapsed) +
       ",\"cpu_us\":" + num((cpu1 - cpu0) / static_cast<double>(total)) +
       ",\"count\":" + std::to_string(total) + "}");
}

void handoff(verrou::LockFactory& locks, const Options& o, int delay_ms) {
  const std::string k = key("handoff:" + std::to_string(delay_ms));
  const auto origin = Clock::now();
  const auto end = origin + std::chrono::duration<double>(o.seconds);
  std::mutex m;  // guards the shared record below (taken only outside the lock calls' waits)
  int last_holder = -1;
  std::int64_t last_release_ns = 0;
  std::vector<std::int64_t> waits;      // release by one worker → acquired by the other
  std::int64_t longest_acquire_ns = 0;  // the longest any acquire() call took
  std::uint64_t acquisitions[2] = {0, 0};
  std::string error;
  auto worker = [&](int me) {
    try {
      auto lock = locks.create_lock(k, 30s);
      while (Clock::now() < end) {
        const auto asked = Clock::now();
        const auto left = std::chrono::duration_cast<verrou::Duration>(end - asked) + 1s;
        if (!lock.acquire({.retry = {.delay = verrou::Duration(delay_ms), .timeout = left}})) break;
        const auto got = Clock::now();
        {
          std::lock_guard<std::mutex> guard(m);
          longest_acquire_ns = std::max(longest_acquire_ns, ns_since(asked, got));
          ++acquisitions[me];
          if (last_holder >= 0 && last_holder != me) {
            waits.push_back(ns_since(origin, got) - last_release_ns);
          }
          last_holder = me;
        }
        std::this_thread::sleep_for(1ms);  // the work done under the lock
        {
          std::lock_guard<std::mutex> guard(m);
          last_release_ns = ns_since(origin, Clock::now());
        }
        lock.release();
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> guard(m);
      error = e.what();
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();
  if (!error.empty()) throw std::runtime_error(error);
  const double elapsed = std::chrono::duration<double>(Clock::now() - origin).count();
  emit("{\"workload\":\"handoff\",\"delay_ms\":" + std::to_string(delay_ms) +
       ",\"rate\":" + num(static_cast<double>(waits.size()) / elapsed) +
       ",\"p50_us\":" + num(quantile_us(waits, 0.5)) + ",\"p99_us\":" +
       num(quantile_us(waits, 0.99)) + ",\"longest_acquire_us\":" +
       num(static_cast<double>(longest_acquire_ns) / 1000.0) + ",\"acquisitions\":[" +
       std::to_string(acquisitions[0]) + "," + std::to_string(acquisitions[1]) + "]}");
}

void is_locked(verrou::LockFactory& locks, const Options& o) {
  auto holder = locks.create_lock(key("is_locked"), 60s);
  if (!holder.acquire()) throw std::runtime_error("is_locked: not acquired");
  auto probe = locks.create_lock(key("is_locked"), 60s);
  for (int i = 0; i < 20; ++i) probe.is_locked();
  std::uint64_t n = 0;
  const double cpu0 = cpu_us();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  auto now = start;
  while (now < end) {
    if (!probe.is_locked()) throw std::runtime_error("is_locked: lock not seen");
    ++n;
    now = Clock::now();
  }
  const double cpu1 = cpu_us();
  holder.release();
  const double elapsed = std::chrono::duration<double>(now - start).count();
  emit("{\"workload\":\"is_locked\",\"rate\":" + num(static_cast<double>(n) / elapsed) +
       ",\"cpu_us\":" + num((cpu1 - cpu0) / static_cast<double>(n)) + "}");
}

constexpr std::uint32_t kPermits = 8;

void need_semaphores(const verrou::LockFactory& locks) {
  if (dynamic_cast<verrou::SemaphoreStore*>(locks.store().get()) == nullptr) {
    throw std::runtime_error("no semaphores");
  }
}

void semaphore_cycle(verrou::LockFactory& locks, const Options& o) {
  need_semaphores(locks);
  auto permit = locks.create_semaphore(key("semaphore_cycle"), kPermits, 30s);
  for (int i = 0; i < 20; ++i) {  // warm up, as for locks
    permit.acquire();
    permit.release();
  }
  std::vector<std::int64_t> lat;
  lat.reserve(1 << 20);
  const double cpu0 = cpu_us();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  auto now = start;
  while (now < end) {
    const auto t0 = now;
    if (!permit.acquire()) throw std::runtime_error("semaphore_cycle: no permit");
    permit.release();
    now = Clock::now();
    lat.push_back(ns_since(t0, now));
  }
  const double cpu1 = cpu_us();
  const double elapsed = std::chrono::duration<double>(now - start).count();
  emit("{\"workload\":\"semaphore_cycle\",\"permits\":" + std::to_string(kPermits) +
       ",\"rate\":" + num(static_cast<double>(lat.size()) / elapsed) +
       ",\"p50_us\":" + num(quantile_us(lat, 0.5)) + ",\"p99_us\":" + num(quantile_us(lat, 0.99)) +
       ",\"cpu_us\":" + num((cpu1 - cpu0) / static_cast<double>(lat.size())) +
       ",\"count\":" + std::to_string(lat.size()) + "}");
}

void raise_to(std::atomic<int>& most, int value) {
  for (int seen = most.load(); value > seen && !most.compare_exchange_weak(seen, value);) {
  }
}

// Every worker holds its own permit object of one key; the most holders seen inside at once
// is reported (never above the 8 permits, or the run fails).
void semaphore_parallel(verrou::LockFactory& locks, const Options& o) {
  need_semaphores(locks);
  const std::string k = key("semaphore_parallel");
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(o.workers), 0);
  std::vector<std::vector<std::int64_t>> waits(static_cast<std::size_t>(o.workers));
  std::mutex error_mutex;
  std::string error;
  std::vector<std::thread> threads;
  for (int w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      try {
        auto permit = locks.create_semaphore(k, kPermits, 30s);
        permit.acquire();  // warm up: this worker's connection
        permit.release();
        ready.fetch_add(1);
        while (!go.load()) std::this_thread::yield();
        std::uint64_t n = 0;
        auto& wait = waits[static_cast<std::size_t>(w)];
        while (!stop.load(std::memory_order_relaxed)) {
          const auto asked = Clock::now();
          if (!permit.acquire()) throw std::runtime_error("semaphore_parallel: no permit");
          wait.push_back(ns_since(asked, Clock::now()));
          raise_to(most, inside.fetch_add(1) + 1);
          std::this_thread::sleep_for(1ms);  // the work done under the permit
          inside.fetch_sub(1);
          permit.release();
          ++n;
        }
        counts[static_cast<std::size_t>(w)] = n;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> guard(error_mutex);
        error = e.what();
        ready.fetch_add(1);
      }
    });
  }
  while (ready.load() < o.workers) std::this_thread::sleep_for(1ms);
  const double cpu0 = cpu_us();
  const auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double cpu1 = cpu_us();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (!error.empty()) throw std::runtime_error(error);
  if (most.load() > static_cast<int>(kPermits)) {
    throw std::runtime_error("semaphore_parallel: " + std::to_string(most.load()) +
                             " holders inside at once, over the 8 permits");
  }
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  std::vector<std::int64_t> all;
  for (const auto& w : waits) all.insert(all.end(), w.begin(), w.end());
  emit("{\"workload\":\"semaphore_parallel\",\"workers\":" + std::to_string(o.workers) +
       ",\"permits\":" + std::to_string(kPermits) + ",\"hold_ms\":1" +
       ",\"rate\":" + num(static_cast<double>(total) / elapsed) +
       ",\"acquire_p50_us\":" + num(quantile_us(all, 0.5)) +
       ",\"acquire_p99_us\":" + num(quantile_us(all, 0.99)) +
       ",\"most_inside\":" + std::to_string(most.load()) +
       ",\"cpu_us\":" + num((cpu1 - cpu0) / static_cast<double>(total)) +
       ",\"count\":" + std::to_string(total) + "}");
}

bool wanted(const Options& o, const std::string& name) {
  if (o.only.empty()) return true;
  std::stringstream list(o.only);
  for (std::string item; std::getline(list, item, ',');) {
    if (item == name) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "verrou_compare: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--store") {
      o.url = value();
    } else if (arg == "--seconds") {
      o.seconds = std::stod(value());
    } else if (arg == "--workers") {
      o.workers = std::stoi(value());
    } else if (arg == "--delays") {
      o.delays.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) o.delays.push_back(std::stoi(item));
    } else if (arg == "--only") {
      o.only = value();
    } else {
      std::cerr << "usage: verrou_compare --store URL [--seconds S] [--workers N] "
                   "[--delays 250,10] [--only cycle,parallel,handoff,is_locked,"
                   "semaphore_cycle,semaphore_parallel]\n";
      return 2;
    }
  }
  if (o.url.empty()) {
    std::cerr << "verrou_compare: --store URL is required\n";
    return 2;
  }
  try {
    verrou::LockFactory locks(open(o.url));
    // A workload that fails is reported as such and the others still run.
    const auto attempt = [](const std::string& workload, const std::string& extra, auto&& run) {
      try {
        run();
      } catch (const std::exception& e) {
        std::string message;
        for (const char c : std::string(e.what())) {
          if (c == '"' || c == '\\') message += '\\';
          if (static_cast<unsigned char>(c) >= 0x20) message += c;
        }
        emit("{\"workload\":\"" + workload + "\"" + extra + ",\"error\":\"" + message + "\"}");
      }
    };
    if (wanted(o, "cycle")) attempt("cycle", "", [&] { cycle(locks, o); });
    if (wanted(o, "parallel")) attempt("parallel", "", [&] { parallel(locks, o); });
    if (wanted(o, "handoff")) {
      for (int d : o.delays) {
        attempt("handoff", ",\"delay_ms\":" + std::to_string(d), [&] { handoff(locks, o, d); });
      }
    }
    if (wanted(o, "is_locked")) attempt("is_locked", "", [&] { is_locked(locks, o); });
    if (wanted(o, "semaphore_cycle")) {
      attempt("semaphore_cycle", "", [&] { semaphore_cycle(locks, o); });
    }
    if (wanted(o, "semaphore_parallel")) {
      attempt("semaphore_parallel", "", [&] { semaphore_parallel(locks, o); });
    }
  } catch (const std::exception& e) {
    std::cerr << "verrou_compare: " << verrou::redact_url(o.url) << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
