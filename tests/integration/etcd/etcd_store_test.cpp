// SPDX-License-Identifier: Apache-2.0
// The etcd store's own behaviour: URLs and bad input, the data it writes (layout, leases,
// create revisions), wake-ups through the watch stream, members that fail or answer garbage.
// Uses the shared member (VERROU_ETCD_URL); the authentication, TLS and restart tests are in
// etcd_private_test.cpp.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <vector>
#include <string>
#include <thread>

#include "etcd_test_support.hpp"
#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"
#include "verrou/semaphore.hpp"
#include "verrou/testing/server.hpp"

// This program links verrou::testing for its server helpers, not for the suite.
namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace verrou::conformance

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using verrou::EtcdStore;
using verrou::EtcdStoreOptions;
namespace support = verrou_test::etcd;

std::vector<verrou::EtcdEndpoint> with_member_first(verrou::EtcdEndpoint first,
                                                    const std::vector<verrou::EtcdEndpoint>& rest) {
  std::vector<verrou::EtcdEndpoint> out{std::move(first)};
  for (const auto& e : rest) out.push_back(e);
  return out;
}

std::string unique(const std::string& name) {
  return "etcd-test:" + name + ":" + verrou::conformance::unique_suffix();
}

void expect_invalid(const std::string& url, const std::string& fragment) {
  try {
    (void)verrou::open_store(url);
    ADD_FAILURE() << url << " was accepted";
  } catch (const verrou::InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << url << " gave: " << e.what();
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
  }
}

TEST(EtcdUrl, ReadsMembersPrefixCredentialsAndTls) {
  const auto o = EtcdStoreOptions::from_url(
      "etcd://alice:s3cret@10.0.0.1,10.0.0.2:22379,[::1]:2380?prefix=app%2Flocks%2F&request_timeout=300ms");
  ASSERT_EQ(o.endpoints.size(), 3U);
  EXPECT_EQ(o.endpoints[0].host, "10.0.0.1");
  EXPECT_EQ(o.endpoints[0].port, 2379);
  EXPECT_EQ(o.endpoints[1].port, 22379);
  EXPECT_EQ(o.endpoints[2].host, "::1");
  EXPECT_EQ(o.prefix, "app/locks/");
  EXPECT_EQ(o.username, "alice");
  EXPECT_EQ(o.password, "s3cret");
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.request_timeout, 300ms);

  const auto t = EtcdStoreOptions::from_url(
      "etcds://h:2379?ca_file=/ca.pem&cert_file=/c.pem&key_file=/k.pem");
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.ca_file, "/ca.pem");
  EXPECT_EQ(t.cert_file, "/c.pem");
  EXPECT_EQ(t.key_file, "/k.pem");

  const auto d = EtcdStoreOptions::from_url("etcd://h");
  EXPECT_EQ(d.prefix, "verrou/");
}

TEST(EtcdUrl, BadUrlsGiveClearErrorsWithoutThePassword) {
  expect_invalid("etcd://", "at least one member");
  expect_invalid("etcd:h:2379", "at least one member");
  expect_invalid("etcd://u:s3cret@h:2379/path", "no path");
  expect_invalid("etcd://u:s3cret@h:99999", "port");
  expect_invalid("etcd://u:s3cret@h:2379?pefix=x", "unknown option \"pefix\"");
  expect_invalid("etcd://u:s3cret@h:2379?ca_file=/x", "needs TLS");
  expect_invalid("etcds://u:s3cret@h:2379?cert_file=/x", "both cert_file and key_file");
  expect_invalid("etcd://u:s3cret@h:2379?request_timeout=soon", "request_timeout");
  expect_invalid("etcd://u:s3cret@h:2379?operation_timeout=0ms", "more than 0 ms");
  expect_invalid("etcd://:s3cret@h:2379", "without a user name");
  expect_invalid("etcd://h:2379?prefix=" + std::string(1100, 'p'), "prefix");
}

TEST(EtcdOptions, ChecksWhatIsGivenByHand) {
  EXPECT_THROW(EtcdStore(EtcdStoreOptions{}), verrou::InvalidArgumentError);
  EXPECT_THROW(EtcdStore(EtcdStoreOptions{.endpoints = {{"", 2379}}}),
               verrou::InvalidArgumentError);
  EXPECT_THROW(EtcdStore(EtcdStoreOptions{.endpoints = {{"h", 0}}}), verrou::InvalidArgumentError);
  EXPECT_THROW(EtcdStore(EtcdStoreOptions{.endpoints = {{"h/x", 1}}}),
               verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::etcd_store(EtcdStoreOptions{.endpoints = {{"h", 1}}, .ca_file = "/x"}),
               verrou::InvalidArgumentError);
}

TEST(EtcdUnreachable, EveryMemberTriedThenAClearErrorWithinTheDeadline) {
  auto store = verrou::open_store(
      "etcd://alice:s3cret@127.0.0.1:1,127.0.0.1:2?operation_timeout=400ms&connect_timeout=100ms");
  const auto start = Clock::now();
  try {
    (void)store->exists("k");
    ADD_FAILURE() << "no member exists, yet exists() answered";
  } catch (const verrou::LockStorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("127.0.0.1:1"), std::string::npos) << what;
    EXPECT_NE(what.find("127.0.0.1:2"), std::string::npos) << what;
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
  }
  EXPECT_LT(Clock::now() - start, 3s);
}

class EtcdShared : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = support::shared_unavailable()) VERROU_SKIP_OR_FAIL(*why);
    store_ = std::make_shared<EtcdStore>(EtcdStoreOptions::from_url(support::shared_url()));
    base_ = support::shared_base();
  }
  // A store of the shared member whose readers judge expiry by their clocks.
  static std::shared_ptr<EtcdStore> clock_store() {
    auto options = EtcdStoreOptions::from_url(support::shared_url());
    options.expiry = verrou::EtcdExpiry::clock;
    return std::make_shared<EtcdStore>(options);
  }
  std::shared_ptr<EtcdStore> store_;  // lease mode, the default
  std::string base_;
};

TEST_F(EtcdShared, MembersThatAreDownArePassedOver) {
  const auto options = EtcdStoreOptions::from_url(support::shared_url());
  EtcdStoreOptions with_dead = options;
  with_dead.endpoints = with_member_first({"127.0.0.1", 1}, options.endpoints);
  EtcdStore store(with_dead);
  const auto key = unique("dead-member");
  ASSERT_TRUE(store.save(key, "owner-a", 10s));
  EXPECT_TRUE(store.exists(key));
  store.remove(key, "owner-a");
}

TEST_F(EtcdShared, ALockIsOneKeyWithItsOwnerExpiryAndALeaseCoveringItsTtl) {
  const auto key = unique("layout");
  const auto token = store_->save_fenced(key, "owner-a", 10s);
  ASSERT_TRUE(token.has_value());
  const auto kv = support::raw_get(base_, "verrou/lock/" + key);
  ASSERT_FALSE(kv.is_null()) << "no key at verrou/lock/<key>";
  EXPECT_EQ(store_->lock_key(key), "verrou/lock/" + key);
  const std::string value = support::unb64(kv["value"].get<std::string>());
  EXPECT_EQ(value.rfind("verrou-lock/1 ", 0), 0U) << value;
  EXPECT_EQ(value.substr(value.find('\n') + 1), "owner-a");
  EXPECT_EQ(std::to_string(*token), kv["create_revision"].get<std::string>())
      << "the fencing token is the key's create revision";
  ASSERT_TRUE(kv.contains("lease"));
  const long long lease = std::stoll(kv["lease"].get<std::string>());
  const long long left = support::lease_ttl_left(base_, lease);
  EXPECT_GE(left, 9) << "the lease must outlast the lock";
  EXPECT_LE(left, 23) << "the lease must not keep a vanished holder's key for long";
  store_->remove(key, "owner-a");
  EXPECT_TRUE(support::raw_get(base_, "verrou/lock/" + key).is_null());
}

TEST_F(EtcdShared, AForeverLockHasNoLease) {
  const auto key = unique("forever");
  ASSERT_TRUE(store_->save(key, "owner-a", verrou::forever));
  const auto kv = support::raw_get(base_, "verrou/lock/" + key);
  ASSERT_FALSE(kv.is_null());
  EXPECT_FALSE(kv.contains("lease")) << kv.dump();
  store_->remove(key, "owner-a");
}

TEST_F(EtcdShared, ExtendWithALongerDurationMovesTheKeyToALeaseCoveringIt) {
  const auto key = unique("extend-lease");
  ASSERT_TRUE(store_->save(key, "owner-a", 1s));
  const auto before = support::raw_get(base_, "verrou/lock/" + key);
  store_->extend(key, "owner-a", 120s);
  const auto after = support::raw_get(base_, "verrou/lock/" + key);
  ASSERT_FALSE(after.is_null());
  EXPECT_NE(before["lease"], after["lease"]);
  EXPECT_GE(support::lease_ttl_left(base_, std::stoll(after["lease"].get<std::string>())), 119);
  EXPECT_EQ(before["create_revision"], after["create_revision"]) << "extend keeps the token";
  std::this_thread::sleep_for(2500ms);  // past the first lease's shortest life (2 s)
  EXPECT_TRUE(store_->exists(key));
  store_->remove(key, "owner-a");
}

TEST_F(EtcdShared, ClockModeTakesOverAnExpiredHoldersKeyWithAGreaterCreateRevision) {
  store_ = clock_store();
  const auto key = unique("takeover");
  const auto first = store_->save_fenced(key, "owner-a", 200ms);
  ASSERT_TRUE(first.has_value());
  std::this_thread::sleep_for(300ms);
  // etcd leases last 2 s at least: the key is still there, but its lease ran out.
  ASSERT_FALSE(support::raw_get(base_, "verrou/lock/" + key).is_null());
  EXPECT_FALSE(store_->exists(key));
  const auto second = store_->save_fenced(key, "owner-b", 10s);
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(*second, *first);
  const auto kv = support::raw_get(base_, "verrou/lock/" + key);
  EXPECT_EQ(std::to_string(*second), kv["create_revision"].get<std::string>());
  EXPECT_THROW(store_->remove(key, "owner-a"), verrou::LockNotOwnedError);
  store_->remove(key, "owner-b");
}

TEST_F(EtcdShared, EtcdDeletesTheKeyOfAVanishedHolder) {
  const auto key = unique("vanished");
  ASSERT_TRUE(store_->save(key, "owner-a", 300ms));
  const auto start = Clock::now();
  while (!support::raw_get(base_, "verrou/lock/" + key).is_null() && Clock::now() - start < 10s) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(support::raw_get(base_, "verrou/lock/" + key).is_null());
  // Lease of 2 s (etcd's minimum) at most 3.3 s after the 300 ms lock: generous bound.
  EXPECT_LT(Clock::now() - start, 6s);
}

TEST_F(EtcdShared, APrefixWithOddBytesHoldsItsOwnLocks) {
  auto odd = verrou::open_store(support::shared_url() + "?prefix=%FF%01%20%C3%A9%2F%25q%26");
  const auto key = unique("odd-prefix");
  verrou::LockFactory odd_locks(odd);
  verrou::LockFactory plain_locks(store_);
  auto a = odd_locks.create_lock(key, 10s);
  auto b = plain_locks.create_lock(key, 10s);
  ASSERT_TRUE(a.acquire_immediately());
  EXPECT_TRUE(b.acquire_immediately()) << "another prefix is another set of locks";
  EXPECT_FALSE(support::raw_get(base_, std::string("\xff\x01 \xc3\xa9/%q&lock/") + key).is_null());
  a.release();
  b.release();
}

TEST_F(EtcdShared, AValueTheStoreDidNotWriteIsAClearError) {
  const auto key = unique("foreign");
  support::post(base_, "/v3/kv/put",
                {{"key", support::b64("verrou/lock/" + key)}, {"value", support::b64("hello")}});
  try {
    (void)store_->save(key, "owner-a", 10s);
    ADD_FAILURE() << "a foreign value was taken for a lock";
  } catch (const verrou::LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a verrou lock"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)store_->exists(key), verrou::LockStorageError);
  store_->force_remove(key);
  EXPECT_TRUE(store_->save(key, "owner-a", 10s));
  store_->remove(key, "owner-a");
}

// Two store objects are two processes to each other: only the watch stream can wake the
// waiter before its 20 s retry delay.
TEST_F(EtcdShared, AWaiterOfAnotherStoreIsWokenByTheReleaseItWatches) {
  auto other = std::make_shared<EtcdStore>(EtcdStoreOptions::from_url(support::shared_url()));
  const auto key = unique("watch-wake");
  verrou::LockFactory holders(store_);
  verrou::LockFactory waiters(other);
  auto holder = holders.create_lock(key, 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  std::promise<Clock::time_point> got;
  std::thread waiter([&] {
    auto lock = waiters.create_lock(key, 30s);
    if (lock.acquire({.retry = {.delay = 20s, .timeout = 30s}})) {
      got.set_value(Clock::now());
      lock.release();
    } else {
      got.set_value(Clock::time_point::max());
    }
  });
  std::this_thread::sleep_for(400ms);
  const auto released = Clock::now();
  holder.release();
  const auto at = got.get_future().get();
  waiter.join();
  ASSERT_NE(at, Clock::time_point::max());
  EXPECT_LT(at - released, 2s) << "the waiter was not woken by the watch stream";
}

TEST_F(EtcdShared, ClockModeWakesAWaiterWhenTheHoldersLeaseRunsOut) {
  store_ = clock_store();
  auto other = clock_store();
  const auto key = unique("expiry-wake");
  ASSERT_TRUE(store_->save(key, "vanishing-holder", 600ms));
  const auto start = Clock::now();
  verrou::LockFactory waiters(other);
  auto lock = waiters.create_lock(key, 10s);
  ASSERT_TRUE(lock.acquire({.retry = {.delay = 20s, .timeout = 10s}}));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 500ms);
  // Before etcd's 2 s lease would delete the key: woken by the expiry in the value.
  EXPECT_LT(took, 1800ms);
  lock.release();
}

TEST_F(EtcdShared, ManyWaitersOnManyKeysShareOneStreamAndAllGetTheirLock) {
  auto other = std::make_shared<EtcdStore>(EtcdStoreOptions::from_url(support::shared_url()));
  verrou::LockFactory holders(store_);
  verrou::LockFactory waiters(other);
  constexpr int kKeys = 8;
  std::vector<verrou::Lock> held;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back(unique("many-" + std::to_string(i)));
    held.push_back(holders.create_lock(keys.back(), 30s));
    ASSERT_TRUE(held.back().acquire_immediately());
  }
  std::atomic<int> got{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kKeys; ++i) {
    threads.emplace_back([&, i] {
      auto lock = waiters.create_lock(keys[static_cast<std::size_t>(i)], 30s);
      if (lock.acquire({.retry = {.delay = 20s, .timeout = 20s}})) {
        got++;
        lock.release();
      }
    });
  }
  std::this_thread::sleep_for(400ms);
  const auto released = Clock::now();
  for (auto& lock : held) lock.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(got.load(), kKeys);
  EXPECT_LT(Clock::now() - released, 5s);
}

// Semaphore holders in several store objects (processes, to etcd) at once: never more holders
// inside than the limit, and everyone gets through.
TEST_F(EtcdShared, SemaphoreHoldersAcrossStoresNeverExceedTheLimit) {
  constexpr int kStores = 4;
  constexpr int kThreads = 3;
  constexpr std::uint32_t kLimit = 3;
  const auto key = unique("semaphore-contention");
  std::vector<std::shared_ptr<EtcdStore>> stores;
  for (int i = 0; i < kStores; ++i) {
    stores.push_back(std::make_shared<EtcdStore>(EtcdStoreOptions::from_url(support::shared_url())));
  }
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> cycles{0};
  std::atomic<int> errors{0};
  const auto end = Clock::now() + 3s;
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores * kThreads; ++i) {
    threads.emplace_back([&, i] {
      verrou::LockFactory factory(stores[static_cast<std::size_t>(i % kStores)]);
      try {
        while (Clock::now() < end) {
          auto permit = factory.create_semaphore(key, kLimit, 30s);
          if (!permit.acquire({.retry = {.delay = 1s, .timeout = 20s}})) continue;
          const int now_inside = ++inside;
          int seen = most.load();
          while (now_inside > seen && !most.compare_exchange_weak(seen, now_inside)) {
          }
          std::this_thread::sleep_for(2ms);
          --inside;
          permit.release();
          ++cycles;
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(most.load(), static_cast<int>(kLimit)) << "more holders than permits";
  EXPECT_EQ(most.load(), static_cast<int>(kLimit)) << "the permits were never all in use";
  EXPECT_GT(cycles.load(), kStores * kThreads);
  EXPECT_EQ(stores[0]->count_permits(key), 0U);
}

TEST_F(EtcdShared, SemaphoreHoldersAreKeysApartFromLocksOfTheSameName) {
  const auto key = unique("semaphore-layout");
  ASSERT_TRUE(store_->save_permit(key, "holder-a", 2, 10s));
  const std::string holder_key =
      "verrou/semaphore/" + std::to_string(key.size()) + ":" + key + "/holder-a";
  const auto kv = support::raw_get(base_, holder_key);
  ASSERT_FALSE(kv.is_null()) << "no key at " << holder_key;
  EXPECT_EQ(support::unb64(kv["value"].get<std::string>()).rfind("verrou-permit/1 ", 0), 0U);
  EXPECT_TRUE(kv.contains("lease"));
  EXPECT_TRUE(store_->save(key, "lock-owner", 10s)) << "a lock of the same name is apart";
  EXPECT_FALSE(store_->save_permit(key, "holder-a", 2, 10s)) << "a holder holds one permit";
  EXPECT_TRUE(store_->save_permit(key, "holder-b", 2, 10s));
  EXPECT_FALSE(store_->save_permit(key, "holder-c", 5, 10s))
      << "a larger limit does not pass the smallest among live holders";
  EXPECT_EQ(store_->count_permits(key), 2U);
  store_->remove_permit(key, "holder-a");
  EXPECT_THROW(store_->remove_permit(key, "holder-a"), verrou::LockNotOwnedError);
  store_->extend_permit(key, "holder-b", 20s);
  store_->remove_permit(key, "holder-b");
  store_->remove(key, "lock-owner");
  EXPECT_EQ(store_->count_permits(key), 0U);
}

// A fake member that answers every request with `reply`.
class FakeMember {
 public:
  explicit FakeMember(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      for (;;) {
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0 || stop_) {
          if (client >= 0) ::close(client);
          return;
        }
        char buffer[8192];
        (void)::recv(client, buffer, sizeof buffer, 0);
        (void)::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }
  ~FakeMember() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  FakeMember(const FakeMember&) = delete;
  FakeMember& operator=(const FakeMember&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  std::string reply_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string http_reply(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

const std::string kGarbage = http_reply(200, "not json!");

TEST_F(EtcdShared, AMemberAnsweringGarbageIsPassedOver) {
  FakeMember garbage(kGarbage);
  auto options = EtcdStoreOptions::from_url(support::shared_url());
  options.endpoints = with_member_first({"127.0.0.1", garbage.port()}, options.endpoints);
  EtcdStore store(options);
  const auto key = unique("garbage-member");
  ASSERT_TRUE(store.save(key, "owner-a", 10s));
  store.remove(key, "owner-a");
}

TEST(EtcdGarbage, AClusterAnsweringOnlyGarbageIsAStorageError) {
  for (const std::string& reply :
       {kGarbage, http_reply(200, "{\"header\":{\"revision\":1}"),
        http_reply(200, "{\"succeeded\":\"yes\",\"responses\":{\"a\":1}}"),
        http_reply(200, "{\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":\"!\"}]}}]}"),
        http_reply(200, "{\"kvs\":[{\"key\":\"a2V5\",\"value\":\"bm9wZQ==\"}]}"),
        http_reply(200, "[1,2,3]"), http_reply(503, "{\"code\":14,\"message\":\"no leader\"}"),
        http_reply(404, "not found")}) {
    FakeMember fake(reply);
    EtcdStore store(EtcdStoreOptions{.endpoints = {{"127.0.0.1", fake.port()}},
                                     .operation_timeout = 500ms});
    EXPECT_THROW((void)store.save("k", "owner", 10s), verrou::LockStorageError) << reply;
    EXPECT_THROW((void)store.exists("k"), verrou::LockStorageError) << reply;
    EXPECT_THROW(store.remove("k", "owner"), verrou::Error) << reply;
  }
}

}  // namespace
