// SPDX-License-Identifier: Apache-2.0
// Memory-store behaviour beyond the conformance suite: fairness, hand-off, reclamation.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "verrou/verrou.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

TEST(MemoryStore, WaitersAreServedFairly) {
  auto store = std::make_shared<MemoryStore>();
  LockFactory factory(store);
  std::atomic<bool> stop{false};
  std::atomic<int> counts[2] = {0, 0};
  auto worker = [&](int id) {
    while (!stop) {
      auto lock = factory.create_lock("fair", 10s);
      if (!lock.acquire({.retry = {.timeout = 5s}})) continue;
      counts[id]++;
      std::this_thread::sleep_for(1ms);
      lock.release();
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  std::this_thread::sleep_for(1500ms);
  stop = true;
  a.join();
  b.join();
  const int total = counts[0] + counts[1];
  ASSERT_GT(total, 20);
  EXPECT_GE(counts[0] * 3, total) << counts[0] << " of " << total;
  EXPECT_GE(counts[1] * 3, total) << counts[1] << " of " << total;
}

TEST(MemoryStore, ReleaseHandsTheLockToTheLongestWaiter) {
  auto store = std::make_shared<MemoryStore>();
  LockFactory factory(store);
  auto holder = factory.create_lock("queue", 10s);
  ASSERT_TRUE(holder.acquire());
  std::vector<int> order;
  std::mutex mutex;
  std::atomic<bool> newcomer_checked{false};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] {
      auto lock = factory.create_lock("queue", 10s);
      ASSERT_TRUE(lock.acquire({.retry = {.delay = 30s}}));
      {
        const std::lock_guard guard(mutex);
        order.push_back(i);
      }
      // The first waiter keeps the lock until the newcomer has been turned away.
      while (i == 0 && !newcomer_checked) std::this_thread::sleep_for(1ms);
      lock.release();
    });
    // Queue them in a known order: wait until this one is in the queue.
    const auto give_up = SteadyClock::now() + 30s;
    while (store->waiter_count("queue") < static_cast<std::size_t>(i + 1) &&
           SteadyClock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(store->waiter_count("queue"), static_cast<std::size_t>(i + 1));
  }
  // A newcomer that does not wait cannot pass the queue.
  EXPECT_FALSE(factory.create_lock("queue").acquire_immediately());
  holder.release();
  EXPECT_FALSE(factory.create_lock("queue").acquire_immediately());
  newcomer_checked = true;
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(MemoryStore, WaiterTakesAnExpiredLockWithoutARelease) {
  auto store = std::make_shared<MemoryStore>();
  LockFactory factory(store);
  auto holder = factory.create_lock("expiring", 200ms);
  ASSERT_TRUE(holder.acquire());
  const auto start = SteadyClock::now();
  auto waiter = factory.create_lock("expiring", 10s);
  ASSERT_TRUE(waiter.acquire({.retry = {.delay = 30s, .timeout = 10s}}));
  EXPECT_LT(SteadyClock::now() - start, 5s);
  EXPECT_THROW(holder.release(), LockNotOwnedError);
  waiter.release();
}

TEST(MemoryStore, ReclaimsEntriesOfReleasedExpiredAndAbandonedLocks) {
  auto store = std::make_shared<MemoryStore>();
  LockFactory factory(store);
  for (int i = 0; i < 10000; ++i) {
    auto lock = factory.create_lock("released:" + std::to_string(i));
    ASSERT_TRUE(lock.acquire());
    lock.release();
  }
  EXPECT_EQ(store->entry_count(), 0U);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(factory.create_lock("expired:" + std::to_string(i), 1ms).acquire());
  }
  std::this_thread::sleep_for(20ms);
  // Expired entries go as the store grows: after another round, at most twice the live set
  // (plus the per-shard minimum) remains.
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(factory.create_lock("expired2:" + std::to_string(i), 1ms).acquire());
    std::this_thread::sleep_for(std::chrono::microseconds(1));
  }
  EXPECT_LT(store->entry_count(), 10000U + 64U * 64U);
  // A waiter that gives up leaves nothing behind.
  auto holder = factory.create_lock("held", 10s);
  ASSERT_TRUE(holder.acquire());
  EXPECT_FALSE(factory.create_lock("held").acquire({.retry = {.attempts = 2, .delay = 10ms}}));
  holder.release();
  EXPECT_FALSE(factory.create_lock("held").is_locked());
}

TEST(MemoryStore, HandOffIsImmediate) {
  auto store = std::make_shared<MemoryStore>();
  LockFactory factory(store);
  auto holder = factory.create_lock("handoff", 10s);
  ASSERT_TRUE(holder.acquire());
  std::atomic<SteadyClock::rep> acquired_at{0};
  std::thread waiter([&] {
    auto lock = factory.create_lock("handoff", 10s);
    ASSERT_TRUE(lock.acquire());  // default 250 ms delay: only a wake-up is quick
    acquired_at = SteadyClock::now().time_since_epoch().count();
    lock.release();
  });
  const auto give_up = SteadyClock::now() + 30s;
  while (store->waiter_count("handoff") == 0 && SteadyClock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  const auto released = SteadyClock::now();
  holder.release();
  waiter.join();
  const auto wait = SteadyClock::time_point(SteadyClock::duration(acquired_at.load())) - released;
  EXPECT_LT(wait, 200ms) << "the waiter slept instead of being woken";
}

}  // namespace
}  // namespace verrou
