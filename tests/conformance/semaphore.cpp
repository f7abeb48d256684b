// SPDX-License-Identifier: Apache-2.0
// The conformance checks of semaphores (`SemaphoreStore`): at most `limit` holders of a key,
// expired holders' permits free again, and semaphores apart from locks of the same name.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/testing/conformance.hpp"

namespace verrou::conformance {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Skips the test for a store without semaphores, unless the harness requires them.
#define VERROU_REQUIRE_SEMAPHORES()                                                           \
  do {                                                                                        \
    if (dynamic_cast<SemaphoreStore*>(store().get()) == nullptr) {                            \
      if (GetParam().require_semaphores) {                                                    \
        FAIL() << "the harness requires semaphores, but the store is not a SemaphoreStore";   \
      }                                                                                       \
      GTEST_SKIP() << "the store has no semaphores (not a SemaphoreStore)";                   \
    }                                                                                         \
  } while (false)

constexpr auto kSoon = 5s;

}  // namespace

TEST_P(StoreConformance, SemaphoreAdmitsAtMostLimitHolders) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  std::vector<Semaphore> holders;
  for (int i = 0; i < 3; ++i) {
    holders.push_back(factory.create_semaphore(k, 3, 30s));
    ASSERT_TRUE(holders.back().acquire_immediately()) << "holder " << i << " of 3";
  }
  auto fourth = factory.create_semaphore(k, 3, 30s);
  EXPECT_FALSE(fourth.acquire_immediately()) << "a fourth holder of a 3-permit semaphore";
  EXPECT_EQ(fourth.holders(), 3U);
  holders[1].release();
  EXPECT_EQ(fourth.holders(), 2U);
  EXPECT_TRUE(fourth.acquire_immediately()) << "a released permit is free again";
  EXPECT_EQ(fourth.holders(), 3U);
  fourth.release();
  holders[0].release();
  holders[2].release();
  EXPECT_EQ(fourth.holders(), 0U);
}

TEST_P(StoreConformance, SemaphoreHolderIsNotReentrantAndReleasesOnce) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  auto s = factory.create_semaphore(key("s"), 5, 30s);
  EXPECT_THROW(s.release(), LockNotOwnedError) << "a holder that never acquired";
  ASSERT_TRUE(s.acquire_immediately());
  EXPECT_FALSE(s.acquire_immediately()) << "one holder holds one permit at most";
  EXPECT_EQ(s.holders(), 1U);
  s.release();
  EXPECT_THROW(s.release(), LockNotOwnedError) << "a second release";
  EXPECT_THROW(s.extend(), LockNotOwnedError) << "an extend after release";
}

TEST_P(StoreConformance, SemaphoreCopiesShareTheHolder) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  auto s = factory.create_semaphore(key("s"), 2, 30s);
  ASSERT_TRUE(s.acquire_immediately());
  auto copy = s;
  EXPECT_EQ(copy.owner(), s.owner());
  EXPECT_EQ(copy.limit(), 2U);
  copy.release();
  EXPECT_THROW(s.release(), LockNotOwnedError);
}

TEST_P(StoreConformance, SemaphoreExpiredHolderFreesItsPermit) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  const Duration ttl = GetParam().short_ttl;
  auto brief = factory.create_semaphore(k, 1, ttl);
  ASSERT_TRUE(brief.acquire_immediately());
  auto other = factory.create_semaphore(k, 1, 30s);
  EXPECT_FALSE(other.acquire_immediately());
  std::this_thread::sleep_for(ttl * 2);
  EXPECT_TRUE(brief.is_expired());
  EXPECT_EQ(other.holders(), 0U) << "an expired holder still counted";
  EXPECT_TRUE(other.acquire_immediately());
  EXPECT_THROW(brief.release(), LockNotOwnedError) << "an expired holder's release";
  EXPECT_THROW(brief.extend(), LockNotOwnedError) << "an expired holder's extend";
  other.release();
}

TEST_P(StoreConformance, SemaphoreExtendKeepsThePermit) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  const Duration ttl = GetParam().short_ttl;
  auto s = factory.create_semaphore(k, 1, ttl);
  ASSERT_TRUE(s.acquire_immediately());
  s.extend(30s);
  std::this_thread::sleep_for(ttl * 2);
  EXPECT_FALSE(s.is_expired());
  auto other = factory.create_semaphore(k, 1, 30s);
  EXPECT_FALSE(other.acquire_immediately()) << "the extended permit ran out with its first lease";
  EXPECT_EQ(other.holders(), 1U);
  s.release();
  EXPECT_TRUE(other.acquire_immediately());
  other.release();
}

TEST_P(StoreConformance, SemaphoreWithoutTtlNeverExpires) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  auto s = factory.create_semaphore(k, 1, forever);
  ASSERT_TRUE(s.acquire_immediately());
  EXPECT_EQ(s.remaining_time(), std::nullopt);
  EXPECT_THROW(s.extend(), InvalidArgumentError);
  std::this_thread::sleep_for(GetParam().short_ttl * 2);
  auto other = factory.create_semaphore(k, 1, 30s);
  EXPECT_FALSE(other.acquire_immediately());
  s.release();
}

TEST_P(StoreConformance, SemaphoreAndLockOfOneNameAreIndependent) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("same-name");
  auto lock = factory.create_lock(k, 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  auto s = factory.create_semaphore(k, 1, 30s);
  ASSERT_TRUE(s.acquire_immediately()) << "a held lock blocked the semaphore of its name";
  EXPECT_TRUE(lock.is_locked());
  lock.release();
  EXPECT_EQ(s.holders(), 1U) << "releasing the lock touched the semaphore";
  auto again = factory.create_lock(k, 30s);
  ASSERT_TRUE(again.acquire_immediately()) << "a held permit blocked the lock of its name";
  s.release();
  EXPECT_TRUE(again.is_locked()) << "releasing the permit touched the lock";
  again.force_release();
  auto s2 = factory.create_semaphore(k, 1, 30s);
  ASSERT_TRUE(s2.acquire_immediately());
  auto lock2 = factory.create_lock(k, 30s);
  ASSERT_TRUE(lock2.acquire_immediately());
  lock2.force_release();
  EXPECT_EQ(s2.holders(), 1U) << "force-releasing the lock touched the semaphore";
  s2.release();
}

TEST_P(StoreConformance, SemaphoreHoldersWithDifferentLimitsNeverExceedTheSmallest) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  auto small = factory.create_semaphore(k, 2, 30s);
  ASSERT_TRUE(small.acquire_immediately());
  auto big1 = factory.create_semaphore(k, 5, 30s);
  ASSERT_TRUE(big1.acquire_immediately());
  auto big2 = factory.create_semaphore(k, 5, 30s);
  EXPECT_FALSE(big2.acquire_immediately())
      << "a holder admitted under limit 2 is present: a third holder exceeds it";
  EXPECT_EQ(big2.holders(), 2U);
  small.release();
  EXPECT_TRUE(big2.acquire_immediately()) << "with only limit-5 holders, a second one fits";
  auto small2 = factory.create_semaphore(k, 2, 30s);
  EXPECT_FALSE(small2.acquire_immediately()) << "two holders present: limit 2 is full";
  big1.release();
  big2.release();
}

TEST_P(StoreConformance, SemaphoreBadInputIsRefusedClearly) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  EXPECT_THROW((void)factory.create_semaphore(key("s"), 0, 30s), InvalidArgumentError);
  EXPECT_THROW((void)factory.create_semaphore(key("s"), kMaxSemaphoreLimit + 1U, 30s),
               InvalidArgumentError);
  EXPECT_THROW((void)factory.create_semaphore("", 3, 30s), InvalidArgumentError);
  EXPECT_THROW((void)factory.create_semaphore(key("s"), 3, Duration(0)), InvalidArgumentError);
  auto* semaphores = dynamic_cast<SemaphoreStore*>(store().get());
  EXPECT_THROW(semaphores->save_permit(key("s"), "holder", 0, 30s), InvalidArgumentError);
  EXPECT_THROW(semaphores->save_permit("", "holder", 1, 30s), InvalidArgumentError);
  EXPECT_THROW(semaphores->save_permit(key("s"), "holder", 1, Duration(-1)), InvalidArgumentError);
  auto big = factory.create_semaphore(key("big"), kMaxSemaphoreLimit, 30s);
  ASSERT_TRUE(big.acquire_immediately()) << "the largest limit is valid";
  big.release();
}

TEST_P(StoreConformance, SemaphoreRunReleasesEvenWhenTheCallbackThrows) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  auto s = factory.create_semaphore(k, 1, 30s);
  EXPECT_EQ(s.run([] { return 7; }), std::optional<int>(7));
  EXPECT_THROW(s.run([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
  auto other = factory.create_semaphore(k, 1, 30s);
  EXPECT_TRUE(other.acquire_immediately()) << "run left its permit held";
  EXPECT_FALSE(s.run_immediately([] {}));
  other.release();
}

TEST_P(StoreConformance, SemaphoreWaitersAreWokenOnRelease) {
  VERROU_REQUIRE_SEMAPHORES();
  LockFactory factory(store());
  const auto k = key("s");
  auto holder = factory.create_semaphore(k, 1, 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  std::promise<SteadyClock::time_point> acquired_at;
  std::thread waiter([&] {
    auto s = factory.create_semaphore(k, 1, 30s);
    // A 20 s delay: only a wake-up on release can make this quick.
    if (s.acquire({.retry = {.delay = 20s, .timeout = 60s}})) {
      acquired_at.set_value(SteadyClock::now());
      s.release();
    } else {
      acquired_at.set_value(SteadyClock::time_point::max());
    }
  });
  std::this_thread::sleep_for(300ms);
  const auto released_at = SteadyClock::now();
  holder.release();
  const auto got = acquired_at.get_future().get();
  waiter.join();
  ASSERT_NE(got, SteadyClock::time_point::max());
  EXPECT_LT(got - released_at, kSoon) << "the waiter slept out its retry delay";
}

TEST_P(StoreConformance, SemaphoreContendedHoldersNeverExceedTheLimit) {
  VERROU_REQUIRE_SEMAPHORES();
  constexpr std::uint32_t kLimit = 3;
  constexpr int kThreads = 8;
  const std::size_t cycles = std::max<std::size_t>(20, GetParam().contention_cycles / 8);
  LockFactory factory(store());
  const auto k = key("s");
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> failures{0};
  std::atomic<std::size_t> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        for (std::size_t i = 0; i < cycles; ++i) {
          auto s = factory.create_semaphore(k, kLimit, 30s);
          if (!s.acquire({.retry = {.delay = 1ms, .timeout = 120s}})) {
            failures++;
            return;
          }
          const int now_inside = ++inside;
          int seen = most.load();
          while (now_inside > seen && !most.compare_exchange_weak(seen, now_inside)) {
          }
          std::this_thread::sleep_for(1ms);  // long enough for other holders to come in
          --inside;
          s.release();
          done++;
        }
      } catch (const std::exception&) {
        failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(done.load(), cycles * kThreads) << "a holder's cycle was lost";
  EXPECT_LE(most.load(), static_cast<int>(kLimit)) << "more holders than permits at once";
  EXPECT_GE(most.load(), 2) << "holders never overlapped: the permits were not shared";
}

}  // namespace verrou::conformance
