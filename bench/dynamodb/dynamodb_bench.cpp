// SPDX-License-Identifier: Apache-2.0
// The DynamoDB store on dynalite and on AWS DynamoDB Local: uncontended cycle, parallel cycles
// on distinct keys, hand-off latency between two threads on one key (a polling store: the
// waiter's retry delay, 5 ms here, bounds it); semaphores of 8 permits, one holder and 32.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "verrou/drivers/dynamodb.hpp"
#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct Server {
  const char* env;
  const char* fallback;
};
constexpr Server kDynalite{"VERROU_DYNAMODB_URL",
                           "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000"
                           "&table=verrou_bench"};
constexpr Server kDynamoDbLocal{"VERROU_DYNAMODB_LOCAL_URL",
                                "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001"
                                "&table=verrou_bench"};

// One store per server for the whole run (made on first use); nullptr when unreachable.
std::shared_ptr<verrou::DynamoDbStore> store_for(const Server& server, std::string* why) {
  static std::mutex mutex;
  static std::map<const Server*, std::shared_ptr<verrou::DynamoDbStore>> stores;
  static std::map<const Server*, std::string> errors;
  std::lock_guard lock(mutex);
  if (auto it = stores.find(&server); it != stores.end()) return it->second;
  if (auto it = errors.find(&server); it != errors.end()) {
    *why = it->second;
    return nullptr;
  }
  try {
    const char* url = std::getenv(server.env);
    auto options = verrou::DynamoDbStoreOptions::from_url(
        url != nullptr && *url != '\0' ? url : server.fallback);
    if (options.profile.empty() && std::getenv("AWS_ACCESS_KEY_ID") == nullptr) {
      options.credentials = verrou::AwsCredentials{"verrouBench", "verrouBenchSecret", ""};
    }
    auto store = std::make_shared<verrou::DynamoDbStore>(options);
    stores[&server] = store;
    return store;
  } catch (const std::exception& e) {
    errors[&server] = e.what();
    *why = e.what();
    return nullptr;
  }
}

std::string unique_key(const char* what, int thread) {
  static const std::string run = std::to_string(std::random_device{}());
  return std::string("bench:") + what + ":" + run + ":" + std::to_string(thread);
}

// One lock object, acquire + release: two conditional writes, one HTTP round trip each.
void BM_DynamoDbCycle(benchmark::State& state, const Server* server) {
  std::string why;
  auto store = store_for(*server, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock(unique_key("cycle", 0), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DynamoDbCycle, dynalite, &kDynalite)->UseRealTime();
BENCHMARK_CAPTURE(BM_DynamoDbCycle, dynamodb_local, &kDynamoDbLocal)->UseRealTime();

// Many threads, each on its own key, one shared store (and its connection pool).
void BM_DynamoDbParallelDistinctKeys(benchmark::State& state, const Server* server) {
  std::string why;
  auto store = store_for(*server, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock(unique_key("parallel", state.thread_index()), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DynamoDbParallelDistinctKeys, dynalite, &kDynalite)
    ->ThreadRange(1, 8)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_DynamoDbParallelDistinctKeys, dynamodb_local, &kDynamoDbLocal)
    ->ThreadRange(1, 8)
    ->UseRealTime();

// Two threads on one key: from the holder's release to the waiter's acquire.
void BM_DynamoDbHandOff(benchmark::State& state, const Server* server) {
  std::string why;
  auto store = store_for(*server, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  const std::string key = unique_key("handoff", 0);
  for (auto _ : state) {
    state.PauseTiming();
    auto holder = locks.create_lock(key, 30s);
    if (!holder.acquire()) state.SkipWithError("not acquired");
    std::atomic<bool> waiting{false};
    std::atomic<SteadyClock::rep> got{0};
    std::thread waiter([&] {
      auto lock = locks.create_lock(key, 30s);
      waiting = true;
      if (!lock.acquire({.retry = {.delay = 5ms, .timeout = 10s}})) return;
      got = SteadyClock::now().time_since_epoch().count();
      lock.release();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // let it start polling
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
BENCHMARK_CAPTURE(BM_DynamoDbHandOff, dynalite, &kDynalite)->UseManualTime()->Iterations(50);
BENCHMARK_CAPTURE(BM_DynamoDbHandOff, dynamodb_local, &kDynamoDbLocal)
    ->UseManualTime()
    ->Iterations(50);

// Semaphores: one holder's acquire + release (a read and a conditional write, then an update),
// and 32 threads sharing one semaphore of 8 permits (holders retry every 5 ms when all 8 are
// taken; items = permits taken).
void BM_DynamoDbSemaphoreCycle(benchmark::State& state, const Server* server) {
  std::string why;
  auto store = store_for(*server, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  static const std::string key = unique_key("semaphore", 0);
  auto semaphore = locks.create_semaphore(state.threads() == 1 ? unique_key("semaphore-one", 0)
                                                                : key,
                                          8, 30s);
  for (auto _ : state) {
    if (!semaphore.acquire({.retry = {.delay = 5ms, .timeout = 60s}})) {
      state.SkipWithError("no permit");
    }
    semaphore.release();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DynamoDbSemaphoreCycle, dynalite, &kDynalite)
    ->Threads(1)
    ->Threads(32)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_DynamoDbSemaphoreCycle, dynamodb_local, &kDynamoDbLocal)
    ->Threads(1)
    ->Threads(32)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
