// SPDX-License-Identifier: Apache-2.0
// The store conformance suite: what every LockStore promises, checked through the public API.
#include "verrou/testing/conformance.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::conformance {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Generous bound for "soon" on a loaded CI machine running sanitizers.
constexpr auto kSoon = 5s;

LockFactory factory_for(const std::shared_ptr<LockStore>& store) { return LockFactory(store); }

}  // namespace

void StoreConformance::SetUp() {
  const StoreHarness& harness = GetParam();
  if (harness.unavailable) {
    if (auto why = harness.unavailable()) VERROU_SKIP_OR_FAIL(*why);
  }
  store_ = harness.make_store();
  ASSERT_NE(store_, nullptr) << "the harness made a null store";
}

std::string StoreConformance::key(std::string_view name) const {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return GetParam().key_prefix + info->name() + ":" + std::string(name) + ":" + unique_suffix();
}

void PrintTo(const StoreHarness& harness, std::ostream* out) { *out << harness.name; }

std::string harness_name(const ::testing::TestParamInfo<StoreHarness>& info) {
  return info.param.name;
}

TEST_P(StoreConformance, NewLockIsNotLocked) {
  auto lock = factory_for(store()).create_lock(key("k"));
  EXPECT_FALSE(lock.is_locked());
  EXPECT_FALSE(lock.is_expired());
  EXPECT_EQ(lock.remaining_time(), std::nullopt);
}

TEST_P(StoreConformance, AcquireMakesItLocked) {
  auto lock = factory_for(store()).create_lock(key("k"));
  ASSERT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.is_locked());
  lock.release();
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(StoreConformance, OwnerIsNonEmptyAndDistinct) {
  auto factory = factory_for(store());
  auto a = factory.create_lock(key("k"));
  auto b = factory.create_lock(key("k"));
  EXPECT_FALSE(a.owner().empty());
  EXPECT_NE(a.owner(), b.owner());
}

TEST_P(StoreConformance, TwoLockObjectsOnOneKeySeeTheSameState) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto a = factory.create_lock(k);
  auto b = factory.create_lock(k);
  ASSERT_TRUE(a.acquire_immediately());
  EXPECT_TRUE(b.is_locked());
  EXPECT_FALSE(b.acquire_immediately());
  a.release();
  EXPECT_FALSE(b.is_locked());
  EXPECT_TRUE(b.acquire_immediately());
  EXPECT_TRUE(a.is_locked());
  b.release();
}

TEST_P(StoreConformance, SecondAcquireWaitsUntilRelease) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  std::atomic<bool> second_has_it{false};
  auto second = std::async(std::launch::async, [&] {
    auto lock = factory.create_lock(k);
    const bool ok = lock.acquire({.retry = {.delay = 20ms, .timeout = 30s}});
    second_has_it = ok;
    if (ok) lock.release();
    return ok;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(second_has_it.load()) << "a second owner acquired a held lock";
  holder.release();
  ASSERT_EQ(second.wait_for(kSoon * 3), std::future_status::ready);
  EXPECT_TRUE(second.get());
}

TEST_P(StoreConformance, NonOwnerReleaseThrowsAndKeepsTheLock) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  auto other = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  EXPECT_THROW(other.release(), LockNotOwnedError);
  EXPECT_TRUE(holder.is_locked());
  holder.release();
}

TEST_P(StoreConformance, ReleaseOfALockNeverAcquiredThrows) {
  auto lock = factory_for(store()).create_lock(key("k"));
  EXPECT_THROW(lock.release(), LockNotOwnedError);
}

TEST_P(StoreConformance, DoubleReleaseThrows) {
  auto lock = factory_for(store()).create_lock(key("k"));
  ASSERT_TRUE(lock.acquire());
  lock.release();
  EXPECT_THROW(lock.release(), LockNotOwnedError);
}

TEST_P(StoreConformance, LocksAreNotReentrant) {
  auto lock = factory_for(store()).create_lock(key("k"));
  ASSERT_TRUE(lock.acquire_immediately());
  EXPECT_FALSE(lock.acquire_immediately());
  EXPECT_FALSE(store()->save(lock.key(), lock.owner(), 10s));
  lock.release();
}

TEST_P(StoreConformance, AcquireGivesUpAtItsTimeout) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  auto waiter = factory.create_lock(k);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(waiter.acquire({.retry = {.delay = 50ms, .timeout = 400ms}}));
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_GE(elapsed, 350ms);
  EXPECT_LT(elapsed, 400ms + kSoon);
  holder.release();
}

TEST_P(StoreConformance, AcquireGivesUpAfterItsAttempts) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  auto waiter = factory.create_lock(k);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(waiter.acquire({.retry = {.attempts = 3, .delay = 100ms}}));
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_GE(elapsed, 140ms) << "three attempts pause twice (each pause at least 75 % of the delay)";
  EXPECT_LT(elapsed, 200ms + kSoon);
  holder.release();
}

TEST_P(StoreConformance, SingleAttemptDoesNotWait) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  const auto start = SteadyClock::now();
  EXPECT_FALSE(factory.create_lock(k).acquire({.retry = {.attempts = 1, .delay = 10s}}));
  EXPECT_LT(SteadyClock::now() - start, kSoon);
  holder.release();
}

TEST_P(StoreConformance, RunPassesResultsAndReleases) {
  auto lock = factory_for(store()).create_lock(key("k"));
  std::optional<int> result = lock.run([&] {
    EXPECT_TRUE(lock.is_locked());
    return 42;
  });
  EXPECT_EQ(result, 42);
  EXPECT_FALSE(lock.is_locked());
  bool called = false;
  EXPECT_TRUE(lock.run([&] { called = true; }));
  EXPECT_TRUE(called);
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(StoreConformance, RunPassesExceptionsAndReleases) {
  auto lock = factory_for(store()).create_lock(key("k"));
  EXPECT_THROW(lock.run([]() -> int { throw std::runtime_error("callback failed"); }),
               std::runtime_error);
  EXPECT_FALSE(lock.is_locked());
  EXPECT_THROW(lock.run_immediately([] { throw std::logic_error("callback failed"); }),
               std::logic_error);
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(StoreConformance, RunDoesNotCallTheCallbackWhenTheLockIsHeld) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  auto other = factory.create_lock(k);
  bool called = false;
  EXPECT_FALSE(other.run_immediately([&] { called = true; }));
  EXPECT_EQ(other.run([&] { called = true; return 1; }, {.retry = {.attempts = 2, .delay = 10ms}}),
            std::nullopt);
  EXPECT_FALSE(called);
  EXPECT_TRUE(holder.is_locked());
  holder.release();
}

TEST_P(StoreConformance, ConcurrentCallersAllComplete) {
  auto factory = factory_for(store());
  const auto k = key("k");
  constexpr int kCallers = 6;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&] {
      auto lock = factory.create_lock(k, 30s);
      const bool ok = lock.run(
          [&] {
            if (inside.fetch_add(1) != 0) overlaps++;
            std::this_thread::sleep_for(10ms);
            inside.fetch_sub(1);
          },
          {.retry = {.delay = 10ms, .timeout = 60s}});
      if (ok) done++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), kCallers);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_FALSE(factory.create_lock(k).is_locked());
}

TEST_P(StoreConformance, RestoredLockCanReleaseAndBothSeeIt) {
  auto factory = factory_for(store());
  auto lock = factory.create_lock(key("k"), 10s);
  ASSERT_TRUE(lock.acquire());
  auto restored = factory.restore_lock(lock.serialize());
  EXPECT_EQ(restored.key(), lock.key());
  EXPECT_EQ(restored.owner(), lock.owner());
  EXPECT_EQ(restored.ttl(), lock.ttl());
  EXPECT_TRUE(restored.is_locked());
  restored.release();
  EXPECT_FALSE(lock.is_locked());
  EXPECT_FALSE(restored.is_locked());
  EXPECT_THROW(lock.release(), LockNotOwnedError);
}

TEST_P(StoreConformance, RestoredFromJsonCanExtendAndRelease) {
  auto factory = factory_for(store());
  auto lock = factory.create_lock(key("k"), 10s);
  ASSERT_TRUE(lock.acquire());
  auto restored = factory.restore_lock(SerializedLock::from_json(lock.serialize().to_json()));
  restored.extend();
  restored.release();
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(StoreConformance, ExpiredLockReadsUnlockedAndCanBeTakenByAnother) {
  const auto ttl = GetParam().short_ttl;
  auto factory = factory_for(store());
  const auto k = key("k");
  auto first = factory.create_lock(k, ttl);
  ASSERT_TRUE(first.acquire());
  EXPECT_TRUE(first.is_locked());
  std::this_thread::sleep_for(ttl * 2 + 100ms);
  EXPECT_TRUE(first.is_expired());
  EXPECT_EQ(first.remaining_time(), Duration(0));
  EXPECT_FALSE(first.is_locked());
  auto second = factory.create_lock(k, 10s);
  EXPECT_TRUE(second.acquire_immediately());
  // The first owner's lease is over: it cannot release or extend the second owner's lock.
  EXPECT_THROW(first.release(), LockNotOwnedError);
  EXPECT_THROW(first.extend(), LockNotOwnedError);
  EXPECT_TRUE(second.is_locked());
  second.release();
}

TEST_P(StoreConformance, ReleaseOrExtendAfterExpiryThrows) {
  const auto ttl = GetParam().short_ttl;
  auto lock = factory_for(store()).create_lock(key("k"), ttl);
  ASSERT_TRUE(lock.acquire());
  std::this_thread::sleep_for(ttl * 2 + 100ms);
  EXPECT_THROW(lock.extend(), LockNotOwnedError);
  EXPECT_THROW(lock.release(), LockNotOwnedError);
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(StoreConformance, CustomTtlIsHonoured) {
  const auto ttl = GetParam().short_ttl;
  auto factory = factory_for(store());
  auto lock = factory.create_lock(key("k"), ttl * 4);
  ASSERT_TRUE(lock.acquire());
  auto remaining = lock.remaining_time();
  ASSERT_TRUE(remaining.has_value());
  EXPECT_GT(*remaining, ttl * 2);
  EXPECT_LE(*remaining, ttl * 4);
  std::this_thread::sleep_for(ttl);
  EXPECT_TRUE(lock.is_locked()) << "the lock expired before a quarter of its TTL";
  std::this_thread::sleep_for(ttl * 4);
  EXPECT_FALSE(lock.is_locked()) << "the lock outlived its TTL";
}

TEST_P(StoreConformance, DefaultTtlIsThirtySeconds) {
  auto lock = factory_for(store()).create_lock(key("k"));
  EXPECT_EQ(lock.ttl(), kDefaultTtl);
  ASSERT_TRUE(lock.acquire());
  auto remaining = lock.remaining_time();
  ASSERT_TRUE(remaining.has_value());
  EXPECT_GT(*remaining, 25s);
  EXPECT_LE(*remaining, 30s);
  lock.release();
}

TEST_P(StoreConformance, NeverExpiringLockStaysLocked) {
  const auto ttl = GetParam().short_ttl;
  auto factory = factory_for(store());
  auto lock = factory.create_lock(key("k"), forever);
  ASSERT_TRUE(lock.acquire());
  std::this_thread::sleep_for(ttl * 2 + 100ms);
  EXPECT_TRUE(lock.is_locked());
  EXPECT_FALSE(lock.is_expired());
  EXPECT_EQ(lock.remaining_time(), std::nullopt);
  EXPECT_FALSE(factory.create_lock(lock.key()).acquire_immediately());
  EXPECT_THROW(lock.extend(), InvalidArgumentError);
  lock.release();
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(StoreConformance, ForceReleaseFreesALockHeldByAnother) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  auto other = factory.create_lock(k);
  other.force_release();
  EXPECT_FALSE(holder.is_locked());
  EXPECT_TRUE(other.acquire_immediately());
  EXPECT_THROW(holder.release(), LockNotOwnedError);
  other.release();
  other.force_release();  // nothing held: no error
}

TEST_P(StoreConformance, ExtendPushesExpiryOut) {
  const auto ttl = GetParam().short_ttl * 2;
  auto lock = factory_for(store()).create_lock(key("k"), ttl);
  ASSERT_TRUE(lock.acquire());
  std::this_thread::sleep_for(ttl / 2);
  lock.extend();
  std::this_thread::sleep_for(ttl * 3 / 4);  // past the first expiry, before the second
  EXPECT_TRUE(lock.is_locked()) << "extend() did not push the expiry out";
  lock.extend(ttl * 4);
  auto remaining = lock.remaining_time();
  ASSERT_TRUE(remaining.has_value());
  EXPECT_GT(*remaining, ttl * 3);
  EXPECT_EQ(lock.ttl(), ttl) << "extend(d) must not change the lock's TTL";
  std::this_thread::sleep_for(ttl * 2);
  EXPECT_TRUE(lock.is_locked()) << "extend(d) did not set the expiry to now + d";
  lock.release();
}

TEST_P(StoreConformance, ExtendOfALockNotHeldThrows) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto lock = factory.create_lock(k, 10s);
  EXPECT_THROW(lock.extend(), LockNotOwnedError);
  auto holder = factory.create_lock(k, 10s);
  ASSERT_TRUE(holder.acquire());
  EXPECT_THROW(lock.extend(), LockNotOwnedError);
  EXPECT_THROW(lock.extend(5s), LockNotOwnedError);
  holder.release();
}

TEST_P(StoreConformance, StoreRejectsBadKeysAndTtls) {
  const std::string owner = "conformance-owner";
  EXPECT_THROW(store()->save("", owner, 10s), InvalidArgumentError);
  EXPECT_THROW(store()->save(std::string(10'000, 'k'), owner, 10s), InvalidArgumentError);
  EXPECT_THROW(store()->save(key("k"), owner, Duration(0)), InvalidArgumentError);
  EXPECT_THROW(store()->save(key("k"), owner, Duration(-5)), InvalidArgumentError);
  EXPECT_THROW(store()->save(key("k"), owner, kMaxTtl + Duration(1)), InvalidArgumentError);
  EXPECT_THROW(store()->exists(""), InvalidArgumentError);
  EXPECT_THROW(store()->remove("", owner), InvalidArgumentError);
  EXPECT_THROW(store()->force_remove(""), InvalidArgumentError);
  EXPECT_THROW(store()->extend("", owner, 10s), InvalidArgumentError);
}

TEST_P(StoreConformance, UnusualKeysAreKeptApartOrRefusedClearly) {
  const std::string base = key("k");
  const std::vector<std::string> keys = {
      base,
      base + "*",
      base + "%",
      base + "_",
      base + "?",
      base + "{tag}",
      base + "'\"",
      base + " ",
      base + "\\",
      base + std::string("\xc3\xa9"),           // é, valid UTF-8
      base + std::string("\xff\xfe"),           // not UTF-8
      base + std::string("a\0b", 3),            // NUL byte
      base + std::string("a\0c", 3),
  };
  auto factory = factory_for(store());
  std::vector<Lock> held;
  for (const auto& k : keys) {
    auto lock = factory.create_lock(k, 30s);
    try {
      ASSERT_TRUE(lock.acquire_immediately())
          << "key " << ::testing::PrintToString(k) << " was already taken by another key";
      held.push_back(lock);
    } catch (const InvalidArgumentError&) {
      // refused clearly: acceptable for bytes the store cannot hold
    }
  }
  ASSERT_FALSE(held.empty());
  for (const auto& lock : held) {
    auto copy = lock;
    EXPECT_TRUE(copy.is_locked()) << ::testing::PrintToString(lock.key());
  }
  for (auto& lock : held) lock.release();
  for (const auto& lock : held) {
    auto copy = lock;
    EXPECT_FALSE(copy.is_locked()) << ::testing::PrintToString(lock.key());
  }
}

// A release in this process wakes a waiter of this process at once, on every store (stores
// that implement WaitableLockStore also wake waiters of other processes).
TEST_P(StoreConformance, WaitersAreWokenOnRelease) {
  auto factory = factory_for(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k);
  ASSERT_TRUE(holder.acquire());
  std::promise<SteadyClock::time_point> acquired_at;
  std::thread waiter([&] {
    auto lock = factory.create_lock(k);
    // A 20 s delay: only a wake-up on release can make this quick.
    if (lock.acquire({.retry = {.delay = 20s, .timeout = 60s}})) {
      acquired_at.set_value(SteadyClock::now());
      lock.release();
    } else {
      acquired_at.set_value(SteadyClock::time_point::max());
    }
  });
  std::this_thread::sleep_for(300ms);  // let the waiter start waiting
  const auto released_at = SteadyClock::now();
  holder.release();
  const auto got = acquired_at.get_future().get();
  waiter.join();
  ASSERT_NE(got, SteadyClock::time_point::max());
  EXPECT_LT(got - released_at, kSoon) << "the waiter slept out its retry delay";
}

// Two threads that each release and at once ask again take turns: a waiting thread is not
// starved by one that keeps re-acquiring (with the default 250 ms retry delay, only a
// wake-up on release lets either get far).
TEST_P(StoreConformance, WaitersInOneProcessTakeTurns) {
  auto factory = factory_for(store());
  const auto k = key("k");
  std::atomic<bool> stop{false};
  std::atomic<int> counts[2] = {0, 0};
  std::atomic<int> errors{0};
  auto worker = [&](int id) {
    try {
      while (!stop) {
        auto lock = factory.create_lock(k, 30s);
        if (!lock.acquire({.retry = {.timeout = 10s}})) continue;
        counts[id]++;
        std::this_thread::sleep_for(1ms);
        lock.release();
      }
    } catch (const std::exception&) {
      errors++;
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  std::this_thread::sleep_for(2s);
  stop = true;
  a.join();
  b.join();
  const int total = counts[0] + counts[1];
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GE(total, 12) << "hand-offs waited out the retry delay";
  EXPECT_GE(counts[0] * 3, total) << counts[0] << " of " << total << ": a waiter was starved";
  EXPECT_GE(counts[1] * 3, total) << counts[1] << " of " << total << ": a waiter was starved";
}

TEST_P(StoreConformance, ContendedCyclesNeverOverlapAndNoneIsLost) {
  const std::size_t cycles = GetParam().contention_cycles;
  constexpr int kThreads = 8;
  auto factory = factory_for(store());
  const auto k = key("k");
  std::atomic<bool> in_use{false};
  std::atomic<int> overlaps{0};
  std::atomic<int> failures{0};
  // Guarded by the lock under test only. Atomic so ThreadSanitizer accepts stores whose
  // ordering goes through a server it cannot see; the separate load and store still lose an
  // increment whenever two holders overlap.
  std::atomic<std::size_t> counter{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = 0; i < cycles; ++i) {
        auto lock = factory.create_lock(k, 30s);
        if (!lock.acquire({.retry = {.delay = 1ms, .timeout = 120s}})) {
          failures++;
          return;
        }
        if (in_use.exchange(true)) overlaps++;
        const std::size_t seen = counter.load(std::memory_order_relaxed);
        std::this_thread::yield();
        counter.store(seen + 1, std::memory_order_relaxed);
        in_use.store(false);
        lock.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(overlaps.load(), 0) << "two holders held the lock at once";
  EXPECT_EQ(counter.load(), cycles * kThreads) << "an increment was lost: mutual exclusion failed";
}

}  // namespace verrou::conformance
