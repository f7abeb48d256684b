// SPDX-License-Identifier: Apache-2.0
// The Redis store: uncontended cycle, parallel cycles on distinct keys (standalone and
// cluster), hand-off latency between two threads. After the runs it prints what
// `redis-benchmark` gets for `SET key x PX 10000 NX` at the same concurrencies: the ceiling
// (one cycle is two round trips: SET NX, then the release script).
//
//   VERROU_REDIS_URL=redis://127.0.0.1:6379 bench_redis [--benchmark_filter=…]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "verrou/drivers/redis.hpp"
#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}
std::string standalone_url() { return env_or("VERROU_REDIS_URL", "redis://127.0.0.1:6379"); }
std::string cluster_url() {
  return env_or("VERROU_REDIS_CLUSTER_URL",
                "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002");
}

std::shared_ptr<verrou::RedisStore> make_store(const std::string& url) {
  auto store = std::make_shared<verrou::RedisStore>(verrou::RedisStoreOptions{
      .connection = verrou::RedisConnection::from_url(url), .key_prefix = "verrou-bench:"});
  store->ping();
  return store;
}

std::string run_id() {
  static const std::string id = std::to_string(::getpid());
  return id;
}

// One lock object, acquire + release: two round trips.
void BM_RedisCycle(benchmark::State& state) {
  std::shared_ptr<verrou::RedisStore> store;
  try {
    store = make_store(standalone_url());
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock("cycle:" + run_id(), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedisCycle)->UseRealTime();

// Many threads, each on its own key, one shared store (and its connection pool).
template <bool kCluster>
void BM_RedisParallelDistinctKeys(benchmark::State& state) {
  static std::shared_ptr<verrou::RedisStore> store;
  static std::string error;
  if (state.thread_index() == 0) {
    try {
      store = make_store(kCluster ? cluster_url() : standalone_url());
      error.clear();
    } catch (const std::exception& e) {
      store.reset();
      error = e.what();
    }
  }
  std::optional<verrou::Lock> lock;
  for (auto _ : state) {
    if (!lock) {
      if (!store) {
        state.SkipWithError(error.c_str());
        break;
      }
      lock.emplace(verrou::LockFactory(store).create_lock(
          "parallel:" + run_id() + ":" + std::to_string(state.thread_index()), 30s));
    }
    if (!lock->acquire()) state.SkipWithError("not acquired");
    lock->release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedisParallelDistinctKeys<false>)
    ->Name("BM_RedisParallelDistinctKeys")
    ->ThreadRange(1, 64)
    ->UseRealTime();
BENCHMARK(BM_RedisParallelDistinctKeys<true>)
    ->Name("BM_RedisClusterParallelDistinctKeys")
    ->ThreadRange(1, 64)
    ->UseRealTime();

// Two threads on one key: time from the holder's release to the waiter's acquire, with a
// retry delay of 10 s, so only the wake-up on release makes it quick.
void BM_RedisHandOff(benchmark::State& state) {
  std::shared_ptr<verrou::RedisStore> store;
  try {
    store = make_store(standalone_url());
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  verrou::LockFactory locks(store);
  const std::string key = "handoff:" + run_id();
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
      if (!lock.acquire({.retry = {.delay = 10s}})) return;
      got = SteadyClock::now().time_since_epoch().count();
      lock.release();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(3ms);  // let it subscribe and wait
    state.ResumeTiming();
    const auto released = SteadyClock::now();
    holder.release();
    while (got.load() == 0) std::this_thread::yield();
    state.PauseTiming();
    waiter.join();
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
BENCHMARK(BM_RedisHandOff)->Iterations(500)->UseRealTime();

// `redis-benchmark` for SET … PX … NX at `clients` connections: requests per second, or
// nullopt when redis-benchmark is missing or the server is not a plain TCP one.
std::optional<double> redis_benchmark_ceiling(int clients) {
  verrou::RedisConnection c;
  try {
    c = verrou::RedisConnection::from_url(standalone_url());
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (c.endpoints.empty() || c.tls || c.cluster) return std::nullopt;
  std::string command = "redis-benchmark -h " + c.endpoints[0].host + " -p " +
                        std::to_string(c.endpoints[0].port) + " -q -n 100000 -r 1000000 -c " +
                        std::to_string(clients) +
                        " SET verrou-bench:ceiling:__rand_int__ x PX 10000 NX 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  if (::pclose(pipe) != 0) return std::nullopt;
  // The last line reads "SET …: 98039.22 requests per second, p50=…"; earlier ones are
  // progress lines ending in '\r'.
  auto at = out.rfind("requests per second");
  if (at == std::string::npos) return std::nullopt;
  auto colon = out.rfind(": ", at);
  if (colon == std::string::npos) return std::nullopt;
  try {
    return std::stod(out.substr(colon + 2, at - colon - 2));
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The ceiling is measured before and after the runs, and the better figure kept: on a
  // shared machine either one alone may fall on a busy moment.
  const std::vector<int> concurrencies = {1, 8, 32, 64};
  std::vector<std::optional<double>> ceilings;
  for (int clients : concurrencies) ceilings.push_back(redis_benchmark_ceiling(clients));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::cout << "\nCeiling: redis-benchmark SET key x PX 10000 NX on " << standalone_url()
            << " (best of before and after the runs; one lock cycle = 2 round trips)\n";
  for (std::size_t i = 0; i < concurrencies.size(); ++i) {
    auto after = redis_benchmark_ceiling(concurrencies[i]);
    auto best = ceilings[i];
    if (after && (!best || *after > *best)) best = after;
    if (!best) {
      std::printf("  %2d clients: redis-benchmark unavailable\n", concurrencies[i]);
      continue;
    }
    std::printf("  %2d clients: %10.0f SET/s  -> at most %10.0f cycles/s\n", concurrencies[i],
                *best, *best / 2);
  }
  return 0;
}
