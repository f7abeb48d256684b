// SPDX-License-Identifier: Apache-2.0
// The conformance checks of fencing tokens (`FencingLockStore`): every acquisition gets a
// token greater than every token given before for its key.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/testing/conformance.hpp"

namespace verrou::conformance {
namespace {

using namespace std::chrono_literals;

// Skips the test for a store without tokens, unless the harness requires them.
#define VERROU_REQUIRE_FENCING()                                                              \
  do {                                                                                        \
    auto* fencing_store = dynamic_cast<FencingLockStore*>(store().get());                    \
    if (fencing_store == nullptr || !fencing_store->gives_fencing_tokens()) {                 \
      if (GetParam().require_fencing) {                                                       \
        FAIL() << "the harness requires fencing tokens, but the store is not a "              \
                  "FencingLockStore";                                                         \
      }                                                                                       \
      GTEST_SKIP() << "the store gives no fencing tokens (not a FencingLockStore)";           \
    }                                                                                         \
  } while (false)

std::uint64_t token_of(const Lock& lock) {
  const auto token = lock.fencing_token();
  if (!token) throw std::logic_error("an acquired lock of a fencing store has no token");
  return *token;
}

}  // namespace

TEST_P(StoreConformance, FencingTokenComesWithEveryWayOfAcquiring) {
  VERROU_REQUIRE_FENCING();
  LockFactory factory(store());
  const auto k = key("k");
  std::vector<std::uint64_t> tokens;

  auto a = factory.create_lock(k);
  EXPECT_EQ(a.fencing_token(), std::nullopt) << "a lock never acquired has no token";
  ASSERT_TRUE(a.acquire());
  tokens.push_back(token_of(a));
  a.release();

  auto b = factory.create_lock(k);
  ASSERT_TRUE(b.acquire_immediately());
  tokens.push_back(token_of(b));
  b.release();

  auto c = factory.create_lock(k);
  std::optional<std::uint64_t> inside;
  ASSERT_TRUE(c.run([&] { inside = c.fencing_token(); }));
  ASSERT_TRUE(inside.has_value()) << "run() must set the token before calling back";
  tokens.push_back(*inside);

  auto d = factory.create_lock(k);
  ASSERT_TRUE(d.try_lock());
  tokens.push_back(token_of(d));
  d.unlock();

  auto e = factory.create_lock(k);
  e.lock();
  tokens.push_back(token_of(e));
  e.unlock();

  for (std::size_t i = 1; i < tokens.size(); ++i) {
    EXPECT_GT(tokens[i], tokens[i - 1]) << "acquisition " << i << " did not get a greater token";
  }
}

TEST_P(StoreConformance, FencingTokensIncreaseAfterReleaseForceReleaseAndExpiry) {
  VERROU_REQUIRE_FENCING();
  LockFactory factory(store());
  const auto k = key("k");
  const Duration ttl = GetParam().short_ttl;

  auto a = factory.create_lock(k, 30s);
  ASSERT_TRUE(a.acquire_immediately());
  const auto t1 = token_of(a);
  a.release();

  auto b = factory.create_lock(k, 30s);
  ASSERT_TRUE(b.acquire_immediately());
  const auto t2 = token_of(b);
  EXPECT_GT(t2, t1) << "after a release";
  b.force_release();

  auto c = factory.create_lock(k, ttl);
  ASSERT_TRUE(c.acquire_immediately());
  const auto t3 = token_of(c);
  EXPECT_GT(t3, t2) << "after a force release";

  std::this_thread::sleep_for(ttl * 2);
  auto d = factory.create_lock(k, 30s);
  ASSERT_TRUE(d.acquire({.retry = {.delay = ttl / 4, .timeout = 10s}}));
  const auto t4 = token_of(d);
  EXPECT_GT(t4, t3) << "after an expiry";
  d.release();

  // Another key's tokens never push a key's back.
  auto other = factory.create_lock(key("other"), 30s);
  ASSERT_TRUE(other.acquire_immediately());
  other.release();
  auto e = factory.create_lock(k, 30s);
  ASSERT_TRUE(e.acquire_immediately());
  EXPECT_GT(token_of(e), t4);
  e.release();
}

TEST_P(StoreConformance, FencingTokenOfAWaiterIsGreaterThanTheHoldersItFollows) {
  VERROU_REQUIRE_FENCING();
  LockFactory factory(store());
  const auto k = key("k");
  auto holder = factory.create_lock(k, 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  const auto held = token_of(holder);

  std::promise<std::optional<std::uint64_t>> got;
  std::thread waiter([&] {
    try {
      auto lock = factory.create_lock(k, 30s);
      if (lock.acquire({.retry = {.delay = 20ms, .timeout = 30s}})) {
        got.set_value(lock.fencing_token());
        lock.release();
      } else {
        got.set_value(std::nullopt);
      }
    } catch (...) {
      got.set_exception(std::current_exception());
    }
  });
  std::this_thread::sleep_for(200ms);  // the waiter waits (on a waitable store, in save_waiting)
  holder.release();
  const auto waited = got.get_future().get();
  waiter.join();
  ASSERT_TRUE(waited.has_value()) << "the waiter did not get the lock, or got no token";
  EXPECT_GT(*waited, held);
}

TEST_P(StoreConformance, FencingTokensIncreaseInTheOrderHoldersHoldTheLock) {
  VERROU_REQUIRE_FENCING();
  constexpr int kThreads = 6;
  const std::size_t cycles = std::max<std::size_t>(20, GetParam().contention_cycles / 4);
  LockFactory factory(store());
  const auto k = key("k");
  // Read and written only while holding the lock under test (atomic for ThreadSanitizer,
  // which cannot see ordering that goes through a server).
  std::atomic<std::uint64_t> last{0};
  std::atomic<bool> any{false};
  std::atomic<int> out_of_order{0};
  std::atomic<int> missing{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        for (std::size_t i = 0; i < cycles; ++i) {
          auto lock = factory.create_lock(k, 30s);
          if (!lock.acquire({.retry = {.delay = 1ms, .timeout = 120s}})) {
            failures++;
            return;
          }
          const auto token = lock.fencing_token();
          if (!token) {
            missing++;
          } else {
            if (any.load() && *token <= last.load()) out_of_order++;
            last.store(*token);
            any.store(true);
          }
          lock.release();
        }
      } catch (const std::exception&) {
        failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(missing.load(), 0) << "acquisitions without a token";
  EXPECT_EQ(out_of_order.load(), 0) << "a holder got a token not greater than its predecessor's";
}

TEST_P(StoreConformance, FencingTokenTravelsWithTheSerializedLock) {
  VERROU_REQUIRE_FENCING();
  LockFactory factory(store());
  auto lock = factory.create_lock(key("k"), 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  const auto token = token_of(lock);
  const auto serialized = lock.serialize();
  EXPECT_EQ(serialized.fencing_token, token);
  const auto restored = factory.restore_lock(SerializedLock::from_json(serialized.to_json()));
  EXPECT_EQ(restored.fencing_token(), token);
  auto copy = restored;
  copy.release();
}

TEST_P(StoreConformance, FencingTokensIncreaseAcrossStoreObjects) {
  VERROU_REQUIRE_FENCING();
  if (!GetParam().stores_share_data) GTEST_SKIP() << "each store object has its own locks";
  const auto k = key("k");
  LockFactory first(store());
  auto a = first.create_lock(k, 30s);
  ASSERT_TRUE(a.acquire_immediately());
  const auto t1 = token_of(a);
  // A second store object (a new connection, as another process would have), when the
  // harness makes one. Stores whose data lives in the object (a memory store, whatever the
  // harness says) do not see the first one's lock: nothing to compare across them.
  const auto other = GetParam().make_store();
  if (other != store() && !other->exists(k)) {
    a.release();
    GTEST_SKIP() << "a second store object does not see the first one's locks";
  }
  a.release();
  LockFactory second(other);
  auto b = second.create_lock(k, 30s);
  ASSERT_TRUE(b.acquire_immediately());
  EXPECT_GT(token_of(b), t1);
  b.release();
}

TEST_P(StoreConformance, FencingSaveReportsAHeldLockWithoutAToken) {
  VERROU_REQUIRE_FENCING();
  auto* fencing = dynamic_cast<FencingLockStore*>(store().get());
  const auto k = key("k");
  const auto first = fencing->save_fenced(k, "conformance-owner-a", 30s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(fencing->save_fenced(k, "conformance-owner-b", 30s), std::nullopt);
  EXPECT_EQ(fencing->save_fenced(k, "conformance-owner-a", 30s), std::nullopt)
      << "locks are not re-entrant";
  store()->remove(k, "conformance-owner-a");
  const auto next = fencing->save_fenced(k, "conformance-owner-b", 30s);
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next, *first);
  store()->remove(k, "conformance-owner-b");
}

}  // namespace verrou::conformance
