// SPDX-License-Identifier: Apache-2.0
// The memory store: uncontended cycle, parallel cycles on distinct keys, hand-off latency;
// semaphores of 8 permits, one holder and 32.
#include <benchmark/benchmark.h>

#include <atomic>
#include <optional>
#include <thread>

#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// One lock object, acquire + release: the store's own cost.
void BM_MemoryCycle(benchmark::State& state) {
  verrou::LockFactory locks(std::make_shared<verrou::MemoryStore>());
  auto lock = locks.create_lock("bench:cycle", 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MemoryCycle);

// create_lock (new owner token) + acquire + release: what a caller pays per critical section.
void BM_MemoryCreateAcquireRelease(benchmark::State& state) {
  verrou::LockFactory locks(std::make_shared<verrou::MemoryStore>());
  for (auto _ : state) {
    auto lock = locks.create_lock("bench:create", 30s);
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MemoryCreateAcquireRelease);

// Many threads, each on its own key, one shared store.
void BM_MemoryParallelDistinctKeys(benchmark::State& state) {
  static std::shared_ptr<verrou::MemoryStore> store;
  if (state.thread_index() == 0) store = std::make_shared<verrou::MemoryStore>();
  // Other threads wait for thread 0's setup at the start of the loop (Google Benchmark's
  // barrier), so read the store only once the loop has begun.
  std::optional<verrou::Lock> lock;
  for (auto _ : state) {
    if (!lock) {
      lock.emplace(verrou::LockFactory(store).create_lock(
          "bench:parallel:" + std::to_string(state.thread_index()), 30s));
    }
    if (!lock->acquire()) state.SkipWithError("not acquired");
    lock->release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MemoryParallelDistinctKeys)->ThreadRange(1, 32)->UseRealTime();

// Two threads on one key: time from the holder's release to the waiter's acquire.
void BM_MemoryHandOff(benchmark::State& state) {
  verrou::LockFactory locks(std::make_shared<verrou::MemoryStore>());
  std::vector<double> waits_us;
  for (auto _ : state) {
    state.PauseTiming();
    auto holder = locks.create_lock("bench:handoff", 30s);
    if (!holder.acquire()) state.SkipWithError("not acquired");
    std::atomic<bool> waiting{false};
    std::atomic<SteadyClock::rep> got{0};
    std::thread waiter([&] {
      auto lock = locks.create_lock("bench:handoff", 30s);
      waiting = true;
      if (!lock.acquire()) return;
      got = SteadyClock::now().time_since_epoch().count();
      lock.release();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(200us);  // let it block
    state.ResumeTiming();
    const auto released = SteadyClock::now();
    holder.release();
    while (got.load() == 0) std::this_thread::yield();
    state.PauseTiming();
    waiter.join();
    waits_us.push_back(
        std::chrono::duration<double, std::micro>(
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
BENCHMARK(BM_MemoryHandOff)->Iterations(2000)->UseRealTime();

// Semaphores: one holder's acquire + release, and 32 threads sharing one semaphore of 8
// permits (items = permits taken); each thread is its own holder.
void BM_MemorySemaphoreCycle(benchmark::State& state) {
  static std::shared_ptr<verrou::MemoryStore> store;
  if (state.thread_index() == 0) store = std::make_shared<verrou::MemoryStore>();
  std::optional<verrou::Semaphore> permit;
  for (auto _ : state) {
    if (!permit) {
      permit.emplace(verrou::LockFactory(store).create_semaphore("bench:semaphore", 8, 30s));
    }
    if (!permit->acquire()) state.SkipWithError("no permit");
    permit->release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MemorySemaphoreCycle)->Threads(1)->Threads(32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
