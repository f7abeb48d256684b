// SPDX-License-Identifier: Apache-2.0
// The SQL stores (SQLite file, PostgreSQL, MariaDB): uncontended cycle, parallel cycles on
// distinct keys, hand-off latency. A store whose server is unreachable is skipped, saying why.
//
//   bench_sql [--benchmark_filter=Postgres]     # servers from VERROU_POSTGRES_URL, VERROU_MYSQL_URL
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Target {
  std::string name;
  std::string url;
  verrou::Duration retry_delay;  // how often a waiter polls (PostgreSQL is woken instead)
  std::shared_ptr<verrou::LockStore> store;
};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// One lock object, acquire + release: two statements on one pooled connection.
void cycle(benchmark::State& state, const Target* t) {
  verrou::LockFactory locks(t->store);
  auto lock = locks.create_lock("bench:cycle:" + std::to_string(::getpid()), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}

// Many threads, each on its own key, one shared store (pool of 4 connections).
void parallel(benchmark::State& state, const Target* t) {
  verrou::LockFactory locks(t->store);
  auto lock = locks.create_lock(
      "bench:parallel:" + std::to_string(::getpid()) + ":" + std::to_string(state.thread_index()),
      30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}

// Two threads on one key: time from the holder's release (its start) to the waiter holding
// the lock (p50_us, p99_us).
void hand_off(benchmark::State& state, const Target* t) {
  verrou::LockFactory locks(t->store);
  const std::string key = "bench:handoff:" + std::to_string(::getpid());
  std::vector<double> waits_us;
  for (auto _ : state) {
    state.PauseTiming();
    auto holder = locks.create_lock(key, 30s);
    if (!holder.acquire()) state.SkipWithError("not acquired");
    std::atomic<bool> waiting{false};
    std::atomic<SteadyClock::rep> got{0};
    std::thread waiter([&] {
      auto lock = locks.create_lock(key, 30s);
      waiting = true;
      if (!lock.acquire({.retry = {.delay = t->retry_delay, .timeout = 20s}})) return;
      got = SteadyClock::now().time_since_epoch().count();
      lock.release();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // let it try once and start waiting
    state.ResumeTiming();
    const auto released = SteadyClock::now();
    holder.release();
    // Block rather than spin: on a small machine a spinning thread would take the CPU the
    // waiter and the database server need.
    waiter.join();
    state.PauseTiming();
    waits_us.push_back(std::chrono::duration<double, std::micro>(
                           SteadyClock::time_point(SteadyClock::duration(got.load())) - released)
                           .count());
    state.ResumeTiming();
  }
  std::sort(waits_us.begin(), waits_us.end());
  if (!waits_us.empty()) {
    state.counters["p50_us"] = waits_us[waits_us.size() / 2];
    state.counters["p99_us"] = waits_us[waits_us.size() * 99 / 100];
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto db = std::filesystem::temp_directory_path() /
                  ("verrou-bench-" + std::to_string(::getpid()) + ".db");
  std::vector<Target> candidates;
  candidates.push_back({"SqliteFile", "sqlite://" + db.string() + "?table=verrou_bench", 5ms, {}});
  candidates.push_back({"Postgres",
                        env_or("VERROU_POSTGRES_URL",
                               "postgres://verrou:verrou@127.0.0.1:5432/verrou") +
                            "?table=verrou_bench&connect_timeout=2s",
                        verrou::kDefaultRetryDelay, {}});
  candidates.push_back({"MariaDB",
                        env_or("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou") +
                            "?table=verrou_bench&connect_timeout=2s",
                        5ms, {}});
  static std::vector<Target> targets;
  for (auto& c : candidates) {
    try {
      c.store = verrou::open_store(c.url);
      targets.push_back(std::move(c));
    } catch (const std::exception& e) {
      std::cerr << "bench_sql: skipping " << c.name << ": " << e.what() << "\n";
    }
  }
  for (const auto& t : targets) {
    benchmark::RegisterBenchmark(("BM_" + t.name + "Cycle").c_str(), cycle, &t);
    benchmark::RegisterBenchmark(("BM_" + t.name + "ParallelDistinctKeys").c_str(), parallel, &t)
        ->ThreadRange(1, 16)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_" + t.name + "HandOff").c_str(), hand_off, &t)
        ->Iterations(100)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  targets.clear();
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(db.string() + suffix, ec);
  }
  return 0;
}
