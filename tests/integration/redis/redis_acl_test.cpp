// SPDX-License-Identifier: Apache-2.0
// ACL users and databases on a private redis-server: a user without rights on the release
// channels still releases (its waiters poll, and subscribe once the rights come), a user
// name without a password authenticates, and release channels are per database.
#include <gtest/gtest.h>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>

#include <chrono>
#include <future>
#include <thread>

#include "private_redis.hpp"
#include "redis_test_support.hpp"

namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}

namespace verrou {
namespace {

using namespace std::chrono_literals;
using redis_test::PrivateRedis;
using SteadyClock = std::chrono::steady_clock;

class RedisAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PrivateRedis::available()) VERROU_SKIP_OR_FAIL("redis-server or redis-cli is not installed");
    if (!server_.start()) VERROU_SKIP_OR_FAIL("could not start a private redis-server");
    // Keys and commands, but no channel: Redis 7's default for new users.
    ASSERT_TRUE(server_.cli("ACL SETUSER quiet on '>secret' '~*' resetchannels '+@all'"));
  }
  [[nodiscard]] std::string quiet_url(const std::string& query = "connect_timeout=2s&command_timeout=2s") const {
    return "redis://quiet:secret@127.0.0.1:" + std::to_string(server_.port()) + "?" + query;
  }
  PrivateRedis server_;
};

TEST_F(RedisAclTest, AUserWithoutChannelRightsStillReleases) {
  auto store = redis_test::make_store(quiet_url());
  ASSERT_TRUE(store->save("k", "o", 30s));
  EXPECT_NO_THROW(store->remove("k", "o")) << "the release deleted the key, then failed to publish";
  EXPECT_EQ(server_.cli_output("EXISTS k"), "0");
  ASSERT_TRUE(store->save("k", "o", 30s));
  EXPECT_NO_THROW(store->force_remove("k"));
  EXPECT_EQ(server_.cli_output("EXISTS k"), "0");
}

TEST_F(RedisAclTest, WaitersPollWithoutChannelRightsAndSubscribeOnceTheyCome) {
  auto store = redis_test::make_store(quiet_url());
  LockFactory factory(store);
  // Without rights on the channel, a waiter is served by its retry delay.
  auto holder = factory.create_lock("k", forever);
  ASSERT_TRUE(holder.acquire_immediately());
  std::thread release_soon([&] {
    std::this_thread::sleep_for(300ms);
    holder.release();
  });
  auto waiter = factory.create_lock("k", 30s);
  EXPECT_TRUE(waiter.acquire({.retry = {.delay = 100ms, .timeout = 10s}}));
  release_soon.join();
  waiter.release();

  // A waiter with a long retry delay waits while the rights are granted: the subscriber
  // asks again for the channel it was refused, and the release wakes the waiter long before
  // its retry delay.
  ASSERT_TRUE(holder.acquire_immediately());
  std::promise<SteadyClock::time_point> woken;
  std::thread long_waiter([&] {
    auto lock = factory.create_lock("k", 30s);
    const bool ok = lock.acquire({.retry = {.delay = 60s, .timeout = 90s}});
    woken.set_value(SteadyClock::now());
    if (ok) lock.release();
  });
  std::this_thread::sleep_for(500ms);  // refused by now
  ASSERT_TRUE(server_.cli("ACL SETUSER quiet allchannels"));
  std::this_thread::sleep_for(7s);  // past the subscriber's pause before asking again
  const auto released_at = SteadyClock::now();
  holder.release();
  const auto waited = woken.get_future().get() - released_at;
  long_waiter.join();
  EXPECT_LT(waited, 10s) << "the waiter slept out its retry delay: the channel was never subscribed";
}

TEST_F(RedisAclTest, TheRightsDocumentedAreEnough) {
  // As docs/redis.md, "ACL rights", gives them.
  ASSERT_TRUE(server_.cli("ACL SETUSER app on '>secret' '~app:*' '~verrou:*' '&verrou:released*' "
                          "'&verrou:permits*' "
                          "'+@read' '+@write' '+@scripting' '+@connection' '+time' '+publish' "
                          "'+subscribe' '+unsubscribe' '+cluster|slots' '+asking' '+wait'"));
  RedisStore store({.connection = RedisConnection::from_url(
                        "redis://app:secret@127.0.0.1:" + std::to_string(server_.port()) +
                        "/0?connect_timeout=2s&command_timeout=2s"),
                    .key_prefix = "app:",
                    .wait_replicas = 0});
  EXPECT_NO_THROW(store.ping());
  auto token = store.save_fenced("k", "o", 30s);
  ASSERT_TRUE(token.has_value());
  EXPECT_TRUE(store.exists("k"));
  store.extend("k", "o", 60s);
  // A waiter is woken by the release (it may subscribe).
  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    store.remove("k", "o");
  });
  auto start = SteadyClock::now();
  auto got = store.save_waiting("k", "p", 30s, start + 20s, start);
  releaser.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_GT(got->fencing_token.value_or(0), *token);
  EXPECT_LT(SteadyClock::now() - start, 5s);
  store.force_remove("k");
  EXPECT_FALSE(store.exists("k"));
  // Semaphores too.
  ASSERT_TRUE(store.save_permit("k", "h1", 2, 30s));
  EXPECT_EQ(store.count_permits("k"), 1U);
  store.extend_permit("k", "h1", 60s);
  store.remove_permit("k", "h1");
  EXPECT_EQ(store.count_permits("k"), 0U);
}

TEST_F(RedisAclTest, AUserNameWithoutAPasswordAuthenticatesAsThatUser) {
  ASSERT_TRUE(server_.cli("ACL SETUSER open on nopass '~*' '&*' '+@all'"));
  ASSERT_TRUE(server_.cli("ACL SETUSER default off"));
  server_.set_cli_auth("--user open --pass x");
  const std::string host = "@127.0.0.1:" + std::to_string(server_.port()) + "?connect_timeout=2s";
  auto store = redis_test::make_store("redis://open" + host);
  EXPECT_NO_THROW(store->ping());
  ASSERT_TRUE(store->save("k", "o", 30s));
  store->remove("k", "o");
  // A user name that needs a password, given none: refused, and said so.
  auto refused = redis_test::make_store("redis://quiet" + host);
  try {
    refused->ping();
    FAIL() << "a user with a password got in without one";
  } catch (const LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("authentication refused"), std::string::npos) << e.what();
  }
}

TEST_F(RedisAclTest, ReleaseChannelsAreApartPerDatabase) {
  auto in_db = [&](int db) {
    auto c = RedisConnection::from_url(server_.url());
    c.database = db;
    return std::make_shared<RedisStore>(RedisStoreOptions{.connection = c});
  };
  auto db0 = in_db(0);
  auto db2 = in_db(2);
  EXPECT_EQ(db0->release_channel("k"), "verrou:released:k");  // as before, and as elsewhere
  EXPECT_EQ(db2->release_channel("k"), "verrou:released@2:k");
  // A waiter in database 2 listens on database 2's channel.
  ASSERT_TRUE(db2->save("k", "holder", 30s));
  std::thread waiter([&] {
    auto start = SteadyClock::now();
    (void)db2->save_waiting("k", "waiter", 30s, start + 2s, start);
  });
  std::string subscribers;
  for (int i = 0; i < 40 && subscribers != "verrou:released@2:k\n1"; ++i) {
    std::this_thread::sleep_for(50ms);
    subscribers = server_.cli_output("PUBSUB NUMSUB verrou:released@2:k");
  }
  EXPECT_EQ(subscribers, "verrou:released@2:k\n1");
  EXPECT_EQ(server_.cli_output("PUBSUB NUMSUB verrou:released:k"), "verrou:released:k\n0");
  waiter.join();
}

}  // namespace
}  // namespace verrou
