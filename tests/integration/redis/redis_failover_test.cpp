// SPDX-License-Identifier: Apache-2.0
// A server that turns into a replica and back (what a demoted master does in a failover),
// waiting for replicas after a save, and fencing tokens across a restart: each on private
// redis-servers.
#include <gtest/gtest.h>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>

#include <chrono>
#include <thread>

#include "drivers/redis/data_layout.hpp"
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

class RedisFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PrivateRedis::available()) VERROU_SKIP_OR_FAIL("redis-server or redis-cli is not installed");
    if (!primary_.start() || !other_.start()) VERROU_SKIP_OR_FAIL("could not start private redis-servers");
  }
  static bool until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto end = SteadyClock::now() + limit;
    while (!done()) {
      if (SteadyClock::now() > end) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
  PrivateRedis primary_;
  PrivateRedis other_;
};

TEST_F(RedisFailoverTest, CommandsRefusedByAReplicaAreRetriedUntilItIsMasterAgain) {
  auto store = redis_test::make_store(primary_.url("connect_timeout=3s&command_timeout=3s"));
  ASSERT_TRUE(store->save("before", "o", 30s));  // the store's connections are open
  // The server becomes a replica of another (writes now answer READONLY), then master again.
  ASSERT_TRUE(primary_.cli("REPLICAOF 127.0.0.1 " + std::to_string(other_.port())));
  ASSERT_TRUE(until([&] { return primary_.cli_output("ROLE").rfind("slave", 0) == 0; }));
  std::thread promote([&] {
    std::this_thread::sleep_for(1s);
    primary_.cli("REPLICAOF NO ONE");
  });
  // Sent while the server refuses writes: retried until it takes them, within the deadline.
  const auto start = SteadyClock::now();
  EXPECT_TRUE(store->save("during", "o", 30s));
  EXPECT_GE(SteadyClock::now() - start, 500ms) << "the save ran while the server was a replica?";
  promote.join();
  EXPECT_EQ(primary_.cli_output("GET during"), "o");
  // And the store keeps working afterwards.
  EXPECT_NO_THROW(store->remove("during", "o"));
  EXPECT_TRUE(store->save("after", "o", 30s));
}

TEST_F(RedisFailoverTest, WaitingForAReplicaThatIsNotThereGivesTheLockBack) {
  auto c = RedisConnection::from_url(primary_.url("connect_timeout=2s&command_timeout=2s"));
  RedisStore store({.connection = c, .wait_replicas = 1, .wait_timeout = 200ms});
  try {
    (void)store.save("k", "o", forever);
    FAIL() << "a save no replica acknowledged was reported acquired";
  } catch (const LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("replicas acknowledged"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(until([&] { return primary_.cli_output("EXISTS k") == "0"; }))
      << "the unacknowledged lock was not released";

  // With a replica: acknowledged, and the replica has the lock (a generous wait, for slow
  // machines).
  ASSERT_TRUE(other_.cli("REPLICAOF 127.0.0.1 " + std::to_string(primary_.port())));
  ASSERT_TRUE(until([&] {
    return other_.cli_output("INFO replication").find("master_link_status:up") != std::string::npos;
  }));
  RedisStore replicated({.connection = c, .wait_replicas = 1, .wait_timeout = 10s});
  EXPECT_TRUE(replicated.save("k", "o", forever));
  EXPECT_EQ(other_.cli_output("GET k"), "o");
  replicated.remove("k", "o");
}

TEST_F(RedisFailoverTest, FencingTokensIncreaseAcrossARestartWithoutPersistence) {
  std::uint64_t before = 0;
  {
    auto store = redis_test::make_store(primary_.url());
    for (int i = 0; i < 3; ++i) {
      auto token = store->save_fenced("k", "o", 30s);
      ASSERT_TRUE(token.has_value());
      EXPECT_GT(*token, before);
      before = *token;
      store->remove("k", "o");
    }
  }
  primary_.stop();  // nothing saved: the counter is gone
  ASSERT_TRUE(primary_.start());
  EXPECT_EQ(primary_.cli_output("EXISTS " + detail::redis::fence_key("k")), "0");
  auto store = redis_test::make_store(primary_.url());
  auto after = store->save_fenced("k", "o", 30s);
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, before) << "a restart that lost the counter made tokens go back";
}

TEST_F(RedisFailoverTest, FencingTokensIncreaseAcrossARestartWithAnAppendOnlyFile) {
  PrivateRedis durable("--appendonly yes --appendfsync always");
  ASSERT_TRUE(durable.start());
  auto store = redis_test::make_store(durable.url());
  auto first = store->save_fenced("k", "o", 30s);
  ASSERT_TRUE(first.has_value());
  store->remove("k", "o");
  // Tokens far ahead of the clock: only the counter knows them.
  ASSERT_TRUE(durable.cli("SET " + detail::redis::fence_key("k") + " 9000000000000000"));
  durable.stop();
  ASSERT_TRUE(durable.start());
  auto second = redis_test::make_store(durable.url())->save_fenced("k", "o", 30s);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, 9000000000000001U) << "the counter did not survive the restart";
}

}  // namespace
}  // namespace verrou
