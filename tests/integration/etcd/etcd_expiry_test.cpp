// SPDX-License-Identifier: Apache-2.0
// The etcd store's two expiry modes (EtcdExpiry) on the shared member (VERROU_ETCD_URL):
// the option and its URL form, the leases lease mode attaches locks to, and what a process
// whose clock is far ahead can do in each mode (simulated with EtcdStoreOptions::clock).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "etcd_test_support.hpp"
#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"
#include "verrou/testing/server.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using verrou::EtcdExpiry;
using verrou::EtcdStore;
using verrou::EtcdStoreOptions;
namespace support = verrou_test::etcd;

std::string unique(const std::string& name) {
  return "etcd-expiry-test:" + name + ":" + verrou::conformance::unique_suffix();
}

TEST(EtcdExpiryOption, LeaseByDefaultClockOnRequestAnythingElseRefused) {
  EXPECT_EQ(EtcdStoreOptions::from_url("etcd://h").expiry, EtcdExpiry::lease);
  EXPECT_EQ(EtcdStoreOptions{}.expiry, EtcdExpiry::lease);
  EXPECT_EQ(EtcdStoreOptions::from_url("etcd://h?expiry=lease").expiry, EtcdExpiry::lease);
  EXPECT_EQ(EtcdStoreOptions::from_url("etcd://h?prefix=p/&expiry=clock").expiry,
            EtcdExpiry::clock);
  for (const char* bad : {"etcd://h?expiry=server", "etcd://h?expiry=", "etcd://h?expiry=Lease"}) {
    try {
      (void)verrou::open_store(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const verrou::InvalidArgumentError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("expiry=lease"), std::string::npos) << what;
      EXPECT_NE(what.find("expiry=clock"), std::string::npos) << what;
    }
  }
  EXPECT_THROW(EtcdStore(EtcdStoreOptions{.endpoints = {{"h", 1}},
                                          .expiry = static_cast<EtcdExpiry>(7)}),
               verrou::InvalidArgumentError);
}

class EtcdExpiryShared : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = support::shared_unavailable()) VERROU_SKIP_OR_FAIL(*why);
    base_ = support::shared_base();
  }
  // A store of the shared member in `mode`, whose wall clock is the system's moved by `skew`.
  static std::shared_ptr<EtcdStore> store(EtcdExpiry mode, std::chrono::hours skew = 0h) {
    auto options = EtcdStoreOptions::from_url(support::shared_url());
    options.expiry = mode;
    if (skew != 0h) {
      options.clock = [skew] { return std::chrono::system_clock::now() + skew; };
    }
    return std::make_shared<EtcdStore>(options);
  }
  [[nodiscard]] long long lease_of(const std::string& key) const {
    const auto kv = support::raw_get(base_, "verrou/lock/" + key);
    if (kv.is_null() || !kv.contains("lease")) return 0;
    return std::stoll(kv["lease"].get<std::string>());
  }
  std::string base_;
};

TEST_F(EtcdExpiryShared, LeaseModeAttachesALockToALeaseOfItsTtlRoundedUpToWholeSeconds) {
  auto s = store(EtcdExpiry::lease);
  // TTL → lease: (TTL + 0.27 s) × 1.001 rounded up to seconds, at least etcd's minimum (2 s).
  using Case = std::pair<verrou::Duration, long long>;
  for (const auto& [ttl, seconds] :
       {Case{10s, 11}, Case{2000ms, 3}, Case{300ms, 2}, Case{1700ms, 2}}) {
    const auto key = unique("rounded");
    ASSERT_TRUE(s->save(key, "owner-a", ttl));
    const long long lease = lease_of(key);
    ASSERT_NE(lease, 0);
    // A shared lease has no more time left than a fresh one: its granted TTL may be longer
    // only when granted for a longer TTL, never in this fresh sequence of distinct TTLs.
    EXPECT_EQ(support::lease_granted_ttl(base_, lease), seconds) << ttl.count() << " ms";
    const long long left = support::lease_ttl_left(base_, lease);
    EXPECT_GE(left, seconds - 1) << ttl.count() << " ms";
    s->remove(key, "owner-a");
  }
  const auto key = unique("extended");
  ASSERT_TRUE(s->save(key, "owner-a", 1s));
  s->extend(key, "owner-a", 120s);
  EXPECT_EQ(support::lease_granted_ttl(base_, lease_of(key)), 121);
  s->remove(key, "owner-a");
}

// The holder's expiration time passes, yet etcd keeps the key until its lease ends: the holder
// may no longer release or extend it (it must not believe it holds), nobody else may take it,
// and it is free once etcd deletes it, within a bounded time.
TEST_F(EtcdExpiryShared, LeaseModeAnExpiredLockIsFreeOnlyOnceEtcdDeletesItsKey) {
  auto holder = store(EtcdExpiry::lease);
  auto other = store(EtcdExpiry::lease);
  const auto key = unique("lingering");
  const auto start = Clock::now();
  const auto first = holder->save_fenced(key, "owner-a", 3s);  // a lease of 4 s
  ASSERT_TRUE(first.has_value());
  std::this_thread::sleep_until(start + 3200ms);
  EXPECT_THROW(holder->extend(key, "owner-a", 10s), verrou::LockNotOwnedError);
  EXPECT_THROW(holder->remove(key, "owner-a"), verrou::LockNotOwnedError);
  EXPECT_FALSE(support::raw_get(base_, "verrou/lock/" + key).is_null())
      << "a refused release deleted the key";
  EXPECT_TRUE(other->exists(key)) << "a lock whose key etcd keeps is held";
  EXPECT_FALSE(other->save(key, "owner-b", 10s)) << "taken before etcd deleted the key";
  std::optional<std::uint64_t> second;
  while (!second && Clock::now() - start < 10s) {
    second = other->save_fenced(key, "owner-b", 10s);
    if (!second) std::this_thread::sleep_for(20ms);
  }
  const auto taken_after = Clock::now() - start;
  ASSERT_TRUE(second.has_value()) << "etcd never deleted the key";
  EXPECT_GT(*second, *first);
  EXPECT_GE(taken_after, 3s);
  // At most ~1.3 s past the TTL by the lease's rounding, 0.5 s for etcd to notice, and slack.
  EXPECT_LT(taken_after, 6s) << "a vanished holder's lock outlived its TTL by far";
  other->remove(key, "owner-b");
}

TEST_F(EtcdExpiryShared, LeaseModeAClockFarAheadCannotTakeALiveLockOrPermit) {
  auto holder = store(EtcdExpiry::lease);
  auto ahead = store(EtcdExpiry::lease, 1h);
  const auto key = unique("ahead");
  ASSERT_TRUE(holder->save(key, "owner-a", 5s));
  EXPECT_TRUE(ahead->exists(key));
  EXPECT_FALSE(ahead->save(key, "owner-b", 5s)) << "a clock an hour ahead took a live lock";
  ASSERT_TRUE(holder->save_permit(key, "holder-a", 1, 5s));
  EXPECT_EQ(ahead->count_permits(key), 1U);
  EXPECT_FALSE(ahead->save_permit(key, "holder-b", 1, 5s))
      << "a clock an hour ahead took a live permit";
  // Its own locks work as anyone's.
  holder->remove(key, "owner-a");
  holder->remove_permit(key, "holder-a");
  ASSERT_TRUE(ahead->save(key, "owner-b", 5s));
  ahead->extend(key, "owner-b", 5s);
  EXPECT_FALSE(holder->save(key, "owner-a", 5s));
  ahead->remove(key, "owner-b");
}

// The limit clock mode documents: a reader whose clock runs ahead by more than the time a
// lock has left takes it while its holder still holds it.
TEST_F(EtcdExpiryShared, ClockModeKnownLimitAClockFarAheadTakesALiveLock) {
  auto holder = store(EtcdExpiry::clock);
  auto ahead = store(EtcdExpiry::clock, 1h);
  const auto key = unique("clock-ahead");
  ASSERT_TRUE(holder->save(key, "owner-a", 30s));
  EXPECT_FALSE(ahead->exists(key)) << "the holder's 30 s look an hour old to this clock";
  EXPECT_TRUE(ahead->save(key, "owner-b", 30s)) << "clock mode now guards against skew: "
                                                    "update docs/etcd.md";
  EXPECT_THROW(holder->remove(key, "owner-a"), verrou::LockNotOwnedError);
  ahead->remove(key, "owner-b");
}

// A waiter in lease mode is woken by etcd's deletion of the key (the watch stream), not by a
// timer: the holder wrote an expiry a minute away, but its lease is etcd's 2 s minimum.
TEST_F(EtcdExpiryShared, LeaseModeAWaiterIsWokenByEtcdDeletingTheKey) {
  const auto key = unique("deleted-wake");
  const auto grant = support::post(base_, "/v3/lease/grant", {{"TTL", "2"}});
  ASSERT_TRUE(grant.contains("ID")) << grant.dump();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto start = Clock::now();
  support::post(base_, "/v3/kv/put",
                {{"key", support::b64("verrou/lock/" + key)},
                 {"value", support::b64("verrou-lock/1 " + std::to_string(now_ms + 60000) +
                                        " w1\nvanished-holder")},
                 {"lease", grant["ID"]}});
  verrou::LockFactory waiters(store(EtcdExpiry::lease));
  auto lock = waiters.create_lock(key, 10s);
  ASSERT_TRUE(lock.acquire({.retry = {.delay = 30s, .timeout = 20s}}));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 1500ms);
  EXPECT_LT(took, 5s) << "the waiter was not woken by etcd's deletion";
  lock.release();
}

TEST_F(EtcdExpiryShared, LeaseModeAnExpiredHoldersPermitCountsUntilEtcdDeletesIt) {
  auto holder = store(EtcdExpiry::lease);
  auto other = store(EtcdExpiry::lease);
  const auto key = unique("permit-lingering");
  const auto start = Clock::now();
  ASSERT_TRUE(holder->save_permit(key, "holder-a", 1, 1s));  // a lease of 2 s
  std::this_thread::sleep_until(start + 1200ms);
  EXPECT_THROW(holder->extend_permit(key, "holder-a", 10s), verrou::LockNotOwnedError);
  EXPECT_THROW(holder->remove_permit(key, "holder-a"), verrou::LockNotOwnedError);
  EXPECT_EQ(other->count_permits(key), 1U);
  EXPECT_FALSE(other->save_permit(key, "holder-b", 1, 10s));
  verrou::LockFactory factory(other);
  auto permit = factory.create_semaphore(key, 1, 10s);
  ASSERT_TRUE(permit.acquire({.retry = {.delay = 30s, .timeout = 10s}}));
  EXPECT_GE(Clock::now() - start, 2s) << "taken before the holder's 2 s lease ended";
  EXPECT_LT(Clock::now() - start, 5s);
  permit.release();
}

}  // namespace
