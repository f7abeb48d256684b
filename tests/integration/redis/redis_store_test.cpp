// SPDX-License-Identifier: Apache-2.0
// Redis-specific behaviour: URLs, Verrou-format data written by other clients, wake-ups,
// unexpected values, TLS verification and ACL errors.
#include <gtest/gtest.h>
#include <verrou/lock_factory.hpp>
#include <verrou/manager.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "drivers/redis/data_layout.hpp"
#include "drivers/redis/hash_slot.hpp"
#include "redis_test_support.hpp"

// This program links the conformance suite for its helpers; the suite runs elsewhere.
namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}

namespace verrou {
namespace {

using namespace std::chrono_literals;
using redis_test::make_store;
using redis_test::standalone_url;
using SteadyClock = std::chrono::steady_clock;

// Runs redis-cli against the standalone server; returns its output without the final newline.
std::string redis_cli(const std::string& args) {
  auto url = RedisConnection::from_url(standalone_url());
  std::string command = "redis-cli -h " + url.endpoints.at(0).host + " -p " +
                        std::to_string(url.endpoints.at(0).port) + " " + args + " 2>&1";
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

bool have_redis_cli() { return std::system("redis-cli --version >/dev/null 2>&1") == 0; }

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = redis_test::unavailable(standalone_url())) VERROU_SKIP_OR_FAIL(*why);
    store_ = make_store(standalone_url());
  }
  std::string key(std::string_view name) const {
    return "verrou-redis-test:" + std::string(name) + ":" + conformance::unique_suffix();
  }
  std::shared_ptr<RedisStore> store_;
};

// --- URLs ------------------------------------------------------------------------------

TEST(RedisUrl, ParsesEveryScheme) {
  auto c = RedisConnection::from_url(
      "redis://app:s%40cret@cache.internal:6390/3?connect_timeout=2s&command_timeout=250ms&pool_size=4");
  ASSERT_EQ(c.endpoints.size(), 1u);
  EXPECT_EQ(c.endpoints[0].host, "cache.internal");
  EXPECT_EQ(c.endpoints[0].port, 6390);
  EXPECT_EQ(c.username, "app");
  EXPECT_EQ(c.password, "s@cret");
  EXPECT_EQ(c.database, 3);
  EXPECT_EQ(c.connect_timeout, 2s);
  EXPECT_EQ(c.command_timeout, 250ms);
  EXPECT_EQ(c.pool_size, 4u);
  EXPECT_FALSE(c.tls);
  EXPECT_FALSE(c.cluster);
  EXPECT_EQ(c.describe(), "cache.internal:6390");

  auto d = RedisConnection::from_url("redis://:pw@127.0.0.1");
  EXPECT_EQ(d.endpoints[0].port, 6379);
  EXPECT_EQ(d.password, "pw");
  EXPECT_TRUE(d.username.empty());

  auto t = RedisConnection::from_url("rediss://default:tok@eu1.upstash.io:6379?ca_file=/etc/ca.pem");
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.tls_ca_file, "/etc/ca.pem");
  EXPECT_FALSE(t.tls_insecure_skip_verify);
  auto i = RedisConnection::from_url("rediss://h?insecure_skip_verify=true&tls_server_name=redis.local");
  EXPECT_TRUE(i.tls_insecure_skip_verify);
  EXPECT_EQ(i.tls_server_name, "redis.local");

  auto u = RedisConnection::from_url("redis+unix:///run/redis/redis.sock?db=2");
  EXPECT_EQ(u.unix_socket, "/run/redis/redis.sock");
  EXPECT_EQ(u.database, 2);
  EXPECT_EQ(u.describe(), "unix:/run/redis/redis.sock");
  auto up = RedisConnection::from_url("redis+unix://:pw@/tmp/r.sock");
  EXPECT_EQ(up.unix_socket, "/tmp/r.sock");
  EXPECT_EQ(up.password, "pw");

  auto k = RedisConnection::from_url("redis+cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002");
  EXPECT_TRUE(k.cluster);
  ASSERT_EQ(k.endpoints.size(), 3u);
  EXPECT_EQ(k.endpoints[1].port, 6379);
  EXPECT_EQ(k.endpoints[2].host, "::1");
  EXPECT_EQ(k.describe(), "cluster 10.0.0.1:7000,10.0.0.2:6379,[::1]:7002");
  EXPECT_TRUE(RedisConnection::from_url("rediss+cluster://h:7000").tls);
}

TEST(RedisUrl, RejectsMistakesClearly) {
  auto message = [](const char* url) {
    try {
      RedisConnection::from_url(url);
    } catch (const InvalidArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message("redis://h?pool=3").find("unknown option \"pool\""), std::string::npos);
  EXPECT_NE(message("redis://h?ca_file=/x").find("rediss://"), std::string::npos);
  EXPECT_NE(message("redis://a:1,b:2").find("redis+cluster://"), std::string::npos);
  EXPECT_NE(message("redis+cluster://a:1/2").find("database"), std::string::npos);
  EXPECT_NE(message("redis://h/x").find("whole number"), std::string::npos);
  EXPECT_NE(message("redis://h?pool_size=0").find("pool_size"), std::string::npos);
  EXPECT_NE(message("redis://h?command_timeout=soon").find("command_timeout"), std::string::npos);
  EXPECT_NE(message("redis+unix://host/x.sock").find("socket path"), std::string::npos);
  EXPECT_NE(message("redis:h").find("//"), std::string::npos);
  // The password never appears in an error.
  EXPECT_EQ(message("redis://u:hunter2@h?bogus=1").find("hunter2"), std::string::npos);
  EXPECT_THROW(RedisStore(RedisStoreOptions{.connection = {}, .key_prefix = ""}), InvalidArgumentError);
}

TEST(RedisUrl, OpenStoreKnowsTheRedisSchemes) {
  auto schemes = supported_schemes();
  for (const char* s : {"redis", "rediss", "redis+unix", "redis+cluster", "rediss+cluster"}) {
    EXPECT_NE(std::find(schemes.begin(), schemes.end(), s), schemes.end()) << s;
  }
  auto store = open_store("redis://127.0.0.1:1?key_prefix=app:&connect_timeout=100ms");
  auto* redis = dynamic_cast<RedisStore*>(store.get());
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->release_channel("k"), "verrou:released:app:k");
  EXPECT_THROW(RedisConnection::from_url("redis://h?key_prefix=x"), InvalidArgumentError);
}

TEST(RedisUrl, MissingCaFileIsRefusedUpFront) {
  EXPECT_THROW(make_store("rediss://127.0.0.1:6380?ca_file=/nonexistent/ca.pem"), InvalidArgumentError);
}

TEST(RedisSlots, HashSlotsFollowTheClusterSpecification) {
  using detail::redis::key_slot;
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));  // empty tag: the whole key is hashed
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
}

TEST_F(RedisStoreTest, TheDesignExampleWorksAsWritten) {
  // As in DESIGN.md and the header, compiled with the project's warnings as errors.
  Verrou locks({
      .default_store = "redis",
      .stores = {{"redis", redis_store({.connection = RedisConnection::from_url(standalone_url())})}},
  });
  auto lock = locks.create_lock(key("design"), 10s);
  ASSERT_TRUE(lock.acquire({.retry = {.timeout = 2s}}));
  EXPECT_TRUE(lock.is_locked());
  lock.release();
  EXPECT_FALSE(lock.is_locked());
}

// --- Data compatible with Verrou ------------------------------------------------------------

TEST_F(RedisStoreTest, HonoursALockWrittenByRedisCliInVerrouFormat) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  const auto k = key("cli");
  ASSERT_EQ(redis_cli("SET " + k + " node-owner PX 10000 NX"), "OK");
  EXPECT_TRUE(store_->exists(k));
  EXPECT_FALSE(store_->save(k, "cpp-owner", 10s));
  EXPECT_THROW(store_->remove(k, "cpp-owner"), LockNotOwnedError);
  EXPECT_THROW(store_->extend(k, "cpp-owner", 10s), LockNotOwnedError);
  store_->extend(k, "node-owner", 60s);
  EXPECT_GT(std::stol(redis_cli("PTTL " + k)), 10'000);
  store_->remove(k, "node-owner");
  EXPECT_EQ(redis_cli("EXISTS " + k), "0");
}

TEST_F(RedisStoreTest, WritesTheVerrouFormat) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  const auto k = key("format");
  ASSERT_TRUE(store_->save(k, "owner-1", 10s));
  EXPECT_EQ(redis_cli("GET " + k), "owner-1");
  auto pttl = std::stol(redis_cli("PTTL " + k));
  EXPECT_GT(pttl, 5'000);
  EXPECT_LE(pttl, 10'000);
  const auto f = key("forever");
  ASSERT_TRUE(store_->save(f, "owner-2", forever));
  EXPECT_EQ(redis_cli("PTTL " + f), "-1");
  store_->force_remove(f);
  EXPECT_EQ(redis_cli("EXISTS " + f), "0");
  store_->remove(k, "owner-1");
}

TEST_F(RedisStoreTest, KeepsAFencingCounterBesideTheLockThatNodeAcquisitionsLeaveAlone) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  const auto k = key("fence{braces}");
  auto first = store_->save_fenced(k, "owner-1", 10s);
  ASSERT_TRUE(first.has_value());
  const auto counter = detail::redis::fence_key(k);
  EXPECT_EQ(counter.rfind("verrou:fence:{", 0), 0U) << counter;
  EXPECT_EQ(detail::redis::key_slot(counter), detail::redis::key_slot(k)) << "not in the lock's slot";
  EXPECT_EQ(redis_cli("GET " + counter), std::to_string(*first));
  EXPECT_GT(std::stoll(redis_cli("PTTL " + counter)), 24LL * 3600 * 1000);
  store_->remove(k, "owner-1");
  // A Node.js process takes and releases the lock itself: no token, counter untouched.
  ASSERT_EQ(redis_cli("SET " + k + " node-owner PX 10000 NX"), "OK");
  ASSERT_EQ(redis_cli("DEL " + k), "1");
  EXPECT_EQ(redis_cli("GET " + counter), std::to_string(*first));
  auto second = store_->save_fenced(k, "owner-2", 10s);
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(*second, *first);
  store_->remove(k, "owner-2");
}

TEST_F(RedisStoreTest, KeepsSemaphoresApartFromLocksAndTidy) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  const auto k = key("semaphore");
  ASSERT_TRUE(store_->save_permit(k, "h1", 3, 2s));
  ASSERT_TRUE(store_->save_permit(k, "h2", 2, 10s));
  const auto holders = detail::redis::semaphore_holders_key(k);
  const auto limits = detail::redis::semaphore_limits_key(k);
  EXPECT_EQ(redis_cli("ZCARD " + holders), "2");
  EXPECT_EQ(redis_cli("HGET " + limits + " h2"), "2");
  EXPECT_EQ(redis_cli("EXISTS " + k), "0") << "a semaphore wrote the lock key";
  // The keys expire with the last lease.
  auto pttl = std::stoll(redis_cli("PTTL " + holders));
  EXPECT_GT(pttl, 5'000);
  EXPECT_LE(pttl, 10'000);
  EXPECT_FALSE(store_->save_permit(k, "h3", 3, 10s)) << "the smallest limit (2) is reached";
  store_->remove_permit(k, "h1");
  store_->remove_permit(k, "h2");
  EXPECT_EQ(store_->count_permits(k), 0U);
}

TEST_F(RedisStoreTest, TheDatabaseNumberIsSelectedOverTcpAndUnixSockets) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  if (auto why = redis_test::unavailable(redis_test::unix_url())) VERROU_SKIP_OR_FAIL(*why);
  const auto k = key("db");
  auto in_db3 = [](const std::string& url) {
    auto c = RedisConnection::from_url(url);
    c.database = 3;
    return std::make_shared<RedisStore>(RedisStoreOptions{.connection = c});
  };
  auto tcp = in_db3(standalone_url());
  auto unix_socket = in_db3(redis_test::unix_url());
  ASSERT_TRUE(tcp->save(k, "o", 10s));
  EXPECT_EQ(redis_cli("-n 3 GET " + k), "o");
  EXPECT_EQ(redis_cli("-n 0 EXISTS " + k), "0");
  EXPECT_FALSE(store_->exists(k));          // database 0
  EXPECT_TRUE(unix_socket->exists(k));      // database 3 over the socket
  unix_socket->remove(k, "o");
  EXPECT_FALSE(tcp->exists(k));
}

TEST_F(RedisStoreTest, KeyPrefixIsPrependedToEveryKey) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  auto prefixed = make_store(standalone_url(), "tenant-a:");
  const auto k = key("prefix");
  ASSERT_TRUE(prefixed->save(k, "o", 10s));
  EXPECT_EQ(redis_cli("GET tenant-a:" + k), "o");
  EXPECT_FALSE(store_->exists(k));
  EXPECT_TRUE(store_->save(k, "other", 10s));  // a different key without the prefix
  prefixed->remove(k, "o");
  store_->remove(k, "other");
}

TEST_F(RedisStoreTest, AKeyHoldingAnotherTypeIsAClearErrorNotACrash) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  const auto k = key("hash");
  ASSERT_EQ(redis_cli("HSET " + k + " field value"), "1");
  EXPECT_FALSE(store_->save(k, "o", 10s));  // the key is taken, whatever it holds
  EXPECT_TRUE(store_->exists(k));
  try {
    store_->remove(k, "o");
    FAIL() << "remove of a hash key succeeded";
  } catch (const LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("release"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store_->extend(k, "o", 10s), LockStorageError);
  // As for save: the key is taken; a waiter waits for it to go, up to its deadline.
  EXPECT_FALSE(store_->save_waiting(k, "o", 10s, SteadyClock::now() + 300ms, SteadyClock::now()));
  store_->force_remove(k);
  EXPECT_FALSE(store_->exists(k));
}

TEST_F(RedisStoreTest, ScriptsAreReloadedAfterScriptFlush) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  const auto k = key("noscript");
  ASSERT_TRUE(store_->save(k, "o", 10s));
  store_->extend(k, "o", 20s);       // EVALSHA works (loaded by an EVAL if it was missing)
  ASSERT_EQ(redis_cli("SCRIPT FLUSH"), "OK");
  store_->extend(k, "o", 20s);       // NOSCRIPT: falls back to EVAL
  store_->remove(k, "o");
  EXPECT_FALSE(store_->exists(k));
}

// --- Wake-ups -------------------------------------------------------------------------------

TEST_F(RedisStoreTest, ReleasePublishesOnTheKeysChannel) {
  const auto k = key("publish");
  auto factory = LockFactory(store_);
  auto holder = factory.create_lock(k, 30s);
  ASSERT_TRUE(holder.acquire());
  // A waiter with a long retry delay is woken by the message, not by polling.
  std::promise<SteadyClock::duration> waited;
  std::thread waiter([&] {
    auto lock = factory.create_lock(k, 30s);
    auto start = SteadyClock::now();
    bool ok = lock.acquire({.retry = {.delay = 30s, .timeout = 60s}});
    waited.set_value(ok ? SteadyClock::now() - start : SteadyClock::duration::max());
    if (ok) lock.release();
  });
  std::this_thread::sleep_for(300ms);
  holder.force_release();  // force release publishes too
  auto got = waited.get_future().get();
  waiter.join();
  EXPECT_LT(got, 10s) << "the waiter was not woken by the forced release";
}

TEST_F(RedisStoreTest, AWaiterWakesWhenTheHoldersLeaseRunsOut) {
  const auto k = key("lease");
  ASSERT_TRUE(store_->save(k, "crashed-holder", 400ms));
  auto start = SteadyClock::now();
  // No release ever comes; the waiter must not sleep out its 30 s.
  auto written = store_->save_waiting(k, "waiter", 10s, start + 30s, start);
  ASSERT_TRUE(written.has_value());
  EXPECT_LT(SteadyClock::now() - start, 10s);
  store_->remove(k, "waiter");
}

TEST_F(RedisStoreTest, AHolderThatDoesNotPublishIsSeenAtTheRetryDelay) {
  if (!have_redis_cli()) GTEST_SKIP() << "redis-cli is not installed";
  // As a Node.js Verrou holder: takes and deletes the key without publishing.
  const auto k = key("silent");
  ASSERT_EQ(redis_cli("SET " + k + " node-owner NX"), "OK");
  std::thread remover([&] {
    std::this_thread::sleep_for(300ms);
    redis_cli("DEL " + k);
  });
  auto lock = LockFactory(store_).create_lock(k, 10s);
  EXPECT_TRUE(lock.acquire({.retry = {.delay = 200ms, .timeout = 30s}}));
  remover.join();
  lock.release();
}

TEST_F(RedisStoreTest, SaveWaitingGivesUpAtItsDeadline) {
  const auto k = key("deadline");
  ASSERT_TRUE(store_->save(k, "holder", forever));
  auto start = SteadyClock::now();
  auto written = store_->save_waiting(k, "waiter", 10s, start + 300ms, start);
  EXPECT_FALSE(written.has_value());
  EXPECT_GE(SteadyClock::now() - start, 250ms);
  EXPECT_LT(SteadyClock::now() - start, 10s);
  store_->remove(k, "holder");
}

TEST_F(RedisStoreTest, ManyWaitersOnManyKeysShareOneSubscriber) {
  constexpr int kKeys = 20;
  auto factory = LockFactory(store_);
  std::vector<Lock> holders;
  for (int i = 0; i < kKeys; ++i) {
    holders.push_back(factory.create_lock(key("many" + std::to_string(i)), 30s));
    ASSERT_TRUE(holders.back().acquire());
  }
  std::atomic<int> acquired{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kKeys; ++i) {
    waiters.emplace_back([&, i] {
      auto lock = factory.create_lock(holders[static_cast<std::size_t>(i)].key(), 30s);
      if (lock.acquire({.retry = {.delay = 60s, .timeout = 60s}})) {
        acquired++;
        lock.release();
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  auto start = SteadyClock::now();
  for (auto& h : holders) h.release();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(acquired.load(), kKeys);
  EXPECT_LT(SteadyClock::now() - start, 20s);
}

TEST_F(RedisStoreTest, ASmallPoolIsSharedByManyThreads) {
  auto c = RedisConnection::from_url(standalone_url());
  c.pool_size = 2;
  auto store = std::make_shared<RedisStore>(RedisStoreOptions{.connection = c});
  LockFactory factory(store);
  std::atomic<int> cycles{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      auto lock = factory.create_lock(key("pool" + std::to_string(t)), 10s);
      for (int i = 0; i < 50; ++i) {
        if (lock.acquire_immediately()) {
          lock.release();
          cycles++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cycles.load(), 12 * 50);
}

// --- TLS and ACL ----------------------------------------------------------------------------

class RedisTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = redis_test::unavailable(redis_test::tls_url())) VERROU_SKIP_OR_FAIL(*why);
  }
  // The TLS URL with its query replaced by `query`.
  static std::string with_query(const std::string& query) {
    auto url = redis_test::tls_url();
    return url.substr(0, url.find('?')) + "?" + query;
  }
};

TEST_F(RedisTlsTest, AnUnknownCertificateAuthorityFailsVerificationClearly) {
  auto other_ca = redis_test::servers_dir() + "/redis-tls/other-ca.crt";
  auto store = make_store(with_query("ca_file=" + other_ca + "&connect_timeout=5s"));
  try {
    store->ping();
    FAIL() << "a server certificate from an unknown CA was accepted";
  } catch (const LockStorageError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("certificate verification failed"), std::string::npos) << what;
    EXPECT_NE(what.find("127.0.0.1:"), std::string::npos) << what;
    EXPECT_EQ(what.find(RedisConnection::from_url(redis_test::tls_url()).password), std::string::npos)
        << "the password leaked into the message";
  }
  // Explicitly insecure: accepted.
  EXPECT_NO_THROW(make_store(with_query("insecure_skip_verify=true"))->ping());
}

TEST_F(RedisTlsTest, TheServerNameIsChecked) {
  auto store = make_store(with_query("ca_file=" + redis_test::tls_ca() + "&tls_server_name=not-this-server.example"));
  try {
    store->ping();
    FAIL() << "a certificate for another name was accepted";
  } catch (const LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("verification failed"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(
      make_store(with_query("ca_file=" + redis_test::tls_ca() + "&tls_server_name=localhost"))->ping());
}

TEST_F(RedisTlsTest, AWrongAclPasswordIsAClearError) {
  auto c = RedisConnection::from_url(redis_test::tls_url());
  c.password = "not-the-password";
  RedisStore store({.connection = c, .key_prefix = ""});
  try {
    store.exists("k");
    FAIL() << "a wrong password was accepted";
  } catch (const LockStorageError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("authentication refused"), std::string::npos) << what;
    EXPECT_EQ(what.find("not-the-password"), std::string::npos) << what;
  }
}

TEST_F(RedisTlsTest, PlainTextToATlsPortFailsWithinTheTimeout) {
  auto c = RedisConnection::from_url(redis_test::tls_url());
  c.tls = false;
  c.command_timeout = 1s;
  c.connect_timeout = 1s;
  RedisStore store({.connection = c, .key_prefix = ""});
  auto start = SteadyClock::now();
  EXPECT_THROW(store.exists("k"), LockStorageError);
  EXPECT_LT(SteadyClock::now() - start, 10s);
}

}  // namespace
}  // namespace verrou
