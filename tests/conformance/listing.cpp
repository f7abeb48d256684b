// SPDX-License-Identifier: Apache-2.0
// The conformance checks of listing (`ListableLockStore`, `verrou list`): the locks held now
// under a prefix, with their owners, time left and fencing tokens; nothing else.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "verrou/lock_factory.hpp"
#include "verrou/testing/conformance.hpp"

namespace verrou::conformance {
namespace {

using namespace std::chrono_literals;

// Skips the test for a store that cannot list.
#define VERROU_REQUIRE_LISTING()                                                 \
  auto* listable = dynamic_cast<ListableLockStore*>(store().get());              \
  if (listable == nullptr || !listable->lists_locks()) {                         \
    GTEST_SKIP() << "the store cannot list its locks (not a ListableLockStore)"; \
  }                                                                              \
  static_assert(true)

constexpr std::size_t kAll = 1000;

std::vector<std::string> keys_of(const std::vector<HeldLock>& held) {
  std::vector<std::string> keys;
  for (const auto& h : held) keys.push_back(h.key);
  return keys;
}

const HeldLock* find(const std::vector<HeldLock>& held, const std::string& key) {
  const auto it =
      std::find_if(held.begin(), held.end(), [&](const HeldLock& h) { return h.key == key; });
  return it == held.end() ? nullptr : &*it;
}

}  // namespace

TEST_P(StoreConformance, ListingShowsTheLocksHeldUnderThePrefix) {
  VERROU_REQUIRE_LISTING();
  LockFactory factory(store());
  const std::string base = key("list") + "/";
  auto a = factory.create_lock(base + "a", 60s);
  auto b = factory.create_lock(base + "b", forever);
  auto released = factory.create_lock(base + "c", 60s);
  auto outside = factory.create_lock(key("outside"), 60s);
  ASSERT_TRUE(b.acquire());
  ASSERT_TRUE(a.acquire());
  ASSERT_TRUE(released.acquire());
  released.release();
  ASSERT_TRUE(outside.acquire());

  const auto held = listable->list_locks(base, kAll);
  EXPECT_EQ(keys_of(held), (std::vector<std::string>{base + "a", base + "b"}));
  const HeldLock* la = find(held, base + "a");
  const HeldLock* lb = find(held, base + "b");
  ASSERT_NE(la, nullptr);
  ASSERT_NE(lb, nullptr);
  EXPECT_EQ(la->owner, a.owner());
  EXPECT_EQ(lb->owner, b.owner());
  ASSERT_TRUE(la->remaining.has_value()) << "a lock with a TTL has time left";
  EXPECT_GT(*la->remaining, 0ms);
  EXPECT_LE(*la->remaining, 60s);
  EXPECT_EQ(lb->remaining, std::nullopt) << "a lock without TTL never expires";
  // Where both the store and the listing give a token, it is the holder's.
  if (a.fencing_token() && la->fencing_token) {
    EXPECT_EQ(*la->fencing_token, *a.fencing_token());
  }
  if (b.fencing_token() && lb->fencing_token) {
    EXPECT_EQ(*lb->fencing_token, *b.fencing_token());
  }
  if (dynamic_cast<FencingLockStore*>(store().get()) != nullptr && a.fencing_token()) {
    EXPECT_TRUE(la->fencing_token.has_value()) << "a fencing store lists the holder's token";
  }

  a.release();
  b.release();
  outside.release();
  EXPECT_TRUE(listable->list_locks(base, kAll).empty());
}

TEST_P(StoreConformance, ListingLeavesOutExpiredLocksAndSemaphores) {
  VERROU_REQUIRE_LISTING();
  LockFactory factory(store());
  const std::string base = key("list") + "/";
  auto expiring = factory.create_lock(base + "expiring", GetParam().short_ttl);
  auto kept = factory.create_lock(base + "kept", 60s);
  ASSERT_TRUE(expiring.acquire());
  ASSERT_TRUE(kept.acquire());
  std::optional<Semaphore> permit;
  if (dynamic_cast<SemaphoreStore*>(store().get()) != nullptr) {
    permit.emplace(factory.create_semaphore(base + "semaphore", 2, 60s));
    ASSERT_TRUE(permit->acquire());
  }
  // Gone once its lease ran out (stores that leave expiry to the server's own clean-up, as
  // etcd's leases do, drop it within seconds).
  std::vector<std::string> keys;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    std::this_thread::sleep_for(GetParam().short_ttl);
    keys = keys_of(listable->list_locks(base, kAll));
  } while (keys.size() != 1 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(keys, (std::vector<std::string>{base + "kept"}));
  kept.release();
  if (permit) permit->release();
}

TEST_P(StoreConformance, ListingHonoursTheLimitAndTakesThePrefixLiterally) {
  VERROU_REQUIRE_LISTING();
  LockFactory factory(store());
  const std::string base = key("list") + "/";
  // Characters that are patterns in SQL LIKE and Redis MATCH are plain text in a prefix.
  const std::vector<std::string> names = {base + "x*%_[a]", base + "x*%_[b]", base + "x?c",
                                          base + "xd"};
  std::vector<Lock> locks;
  for (const auto& name : names) {
    locks.push_back(factory.create_lock(name, 60s));
    ASSERT_TRUE(locks.back().acquire());
  }
  EXPECT_EQ(keys_of(listable->list_locks(base + "x*%_[", kAll)),
            (std::vector<std::string>{base + "x*%_[a]", base + "x*%_[b]"}));
  EXPECT_EQ(keys_of(listable->list_locks(base + "x?", kAll)),
            (std::vector<std::string>{base + "x?c"}));
  const auto two = listable->list_locks(base, 2);
  ASSERT_EQ(two.size(), 2U);
  EXPECT_LT(two[0].key, two[1].key) << "sorted by key";
  for (const auto& h : two) {
    EXPECT_NE(std::find(names.begin(), names.end(), h.key), names.end()) << h.key;
  }
  EXPECT_EQ(listable->list_locks(base, kAll).size(), names.size());
  for (auto& lock : locks) lock.release();
}

}  // namespace verrou::conformance
