// SPDX-License-Identifier: Apache-2.0
// The etcd store on the shared member (VERROU_ETCD_URL, default etcd://127.0.0.1:2379):
// uncontended cycle, parallel cycles on distinct keys, and hand-off latency on one key, both
// between two threads of one store (the in-process line of waiters) and between two store
// objects (as between two processes: the watch stream wakes the waiter); semaphores of 8
// permits, one holder and 32.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "verrou/drivers/etcd.hpp"
#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string url() {
  const char* v = std::getenv("VERROU_ETCD_URL");
  return v != nullptr && *v != '\0' ? v : "etcd://127.0.0.1:2379";
}

// A store for the whole run (made on first use; `index` picks one of two); nullptr when
// etcd is unreachable.
std::shared_ptr<verrou::EtcdStore> store(int index, std::string* why) {
  static std::mutex mutex;
  static std::shared_ptr<verrou::EtcdStore> stores[2];
  static std::string error;
  std::lock_guard lock(mutex);
  if (!error.empty()) {
    *why = error;
    return nullptr;
  }
  if (!stores[index]) {
    try {
      stores[index] = std::make_shared<verrou::EtcdStore>(verrou::EtcdStoreOptions::from_url(url()));
      stores[index]->ping();
    } catch (const std::exception& e) {
      error = e.what();
      stores[index].reset();
      *why = error;
      return nullptr;
    }
  }
  return stores[index];
}

std::string unique_key(const char* what, int thread) {
  static const std::string run = std::to_string(std::random_device{}());
  return std::string("bench:") + what + ":" + run + ":" + std::to_string(thread);
}

// acquire + release: one transaction each (the release conditioned on the revision the
// acquisition wrote), a lease grant now and then.
void BM_EtcdCycle(benchmark::State& state) {
  std::string why;
  auto s = store(0, &why);
  if (!s) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(s);
  auto lock = locks.create_lock(unique_key("cycle", 0), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EtcdCycle)->UseRealTime();

void BM_EtcdParallelDistinctKeys(benchmark::State& state) {
  std::string why;
  auto s = store(0, &why);
  if (!s) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(s);
  auto lock = locks.create_lock(unique_key("parallel", state.thread_index()), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EtcdParallelDistinctKeys)->ThreadRange(1, 32)->UseRealTime();

// From the holder's release to the waiter's acquire. `waiter_store` 0: the holder's store
// (a thread of the same process); 1: another store object (another process, to etcd).
void BM_EtcdHandOff(benchmark::State& state) {
  std::string why;
  auto holder_store = store(0, &why);
  auto waiter_store = store(static_cast<int>(state.range(0)), &why);
  if (!holder_store || !waiter_store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory holders(holder_store);
  verrou::LockFactory waiters(waiter_store);
  const std::string key = unique_key("handoff", static_cast<int>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    auto holder = holders.create_lock(key, 30s);
    if (!holder.acquire()) state.SkipWithError("not acquired");
    std::atomic<bool> waiting{false};
    std::atomic<SteadyClock::rep> got{0};
    std::thread waiter([&] {
      auto lock = waiters.create_lock(key, 30s);
      waiting = true;
      // A 10 s retry delay: only a wake-up makes this quick.
      if (!lock.acquire({.retry = {.delay = 10s, .timeout = 20s}})) return;
      got = SteadyClock::now().time_since_epoch().count();
      lock.release();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(30ms);  // let it start waiting
    state.ResumeTiming();
    const auto released = SteadyClock::now();
    holder.release();
    waiter.join();
    state.PauseTiming();
    if (got.load() == 0) state.SkipWithError("the waiter never acquired");
    state.SetIterationTime(
        std::chrono::duration<double>(SteadyClock::time_point(SteadyClock::duration(got.load())) -
                                      released)
            .count());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_EtcdHandOff)->Arg(0)->Arg(1)->UseManualTime()->Iterations(50);

// Semaphores: one holder's acquire + release (a range read and a transaction, then a
// transaction), and 32 threads sharing one semaphore of 8 permits (items = permits taken).
void BM_EtcdSemaphoreCycle(benchmark::State& state) {
  std::string why;
  auto s = store(0, &why);
  if (!s) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(s);
  static const std::string shared = unique_key("semaphore", 0);
  auto permit = locks.create_semaphore(
      state.threads() == 1 ? unique_key("semaphore-one", 0) : shared, 8, 30s);
  for (auto _ : state) {
    if (!permit.acquire({.retry = {.timeout = 60s}})) state.SkipWithError("no permit");
    permit.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EtcdSemaphoreCycle)->Threads(1)->Threads(32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
