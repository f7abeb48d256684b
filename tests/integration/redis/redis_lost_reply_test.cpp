// SPDX-License-Identifier: Apache-2.0
// Replies that are lost: a save whose reply comes after the command timeout, or never (the
// connection drops after the command went out). Whatever happens, a lock ends up either held
// by its caller and reported acquired, or absent: never held by nobody. A proxy in front of a
// private redis-server passes commands at once and holds replies back or drops them.
#include <gtest/gtest.h>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "drivers/redis/scripts.hpp"
#include "fault_proxy.hpp"
#include "private_redis.hpp"
#include "redis_test_support.hpp"

namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}

namespace verrou {
namespace {

using namespace std::chrono_literals;
using redis_test::FaultProxy;
using redis_test::PrivateRedis;
using SteadyClock = std::chrono::steady_clock;

class RedisLostReplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PrivateRedis::available()) VERROU_SKIP_OR_FAIL("redis-server or redis-cli is not installed");
    if (!server_.start()) VERROU_SKIP_OR_FAIL("could not start a private redis-server");
    proxy_ = std::make_unique<FaultProxy>(server_.port());
  }
  // A store reaching the server through the proxy, giving up on a reply after 500 ms.
  [[nodiscard]] std::shared_ptr<RedisStore> store_through_proxy() const {
    return redis_test::make_store("redis://127.0.0.1:" + std::to_string(proxy_->port()) +
                                  "?connect_timeout=1s&command_timeout=500ms");
  }
  // Waits until `done` holds (up to 15 s); true if it did.
  static bool eventually(const std::function<bool()>& done) {
    const auto until = SteadyClock::now() + 15s;
    while (!done()) {
      if (SteadyClock::now() > until) return false;
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }
  [[nodiscard]] bool exists(const std::string& key) const { return server_.cli_output("EXISTS " + key) == "1"; }

  PrivateRedis server_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(RedisLostReplyTest, AForeverLockWhoseReplyComesLateEndsOursOrAbsent) {
  auto store = store_through_proxy();
  LockFactory factory(store);
  proxy_->delay_replies(1500ms);  // the SET runs at once; its reply comes after the timeout
  auto lock = factory.create_lock("late", forever);
  bool acquired = false;
  std::string failure;
  try {
    acquired = lock.acquire_immediately();
  } catch (const LockStorageError& e) {
    failure = e.what();
  }
  ASSERT_FALSE(acquired) << "the reply was held back 1.5 s, past the 500 ms command timeout";
  EXPECT_NE(failure.find("may have run"), std::string::npos) << failure;
  // The late reply says the SET happened and its caller has gone: the lock is released.
  EXPECT_TRUE(eventually([&] { return !exists("late"); }))
      << "the lock is held by nobody: " << server_.cli_output("GET late");
  // And the same Lock can take it again once replies come in time.
  proxy_->delay_replies(0ms);
  EXPECT_TRUE(lock.acquire_immediately());
  EXPECT_EQ(server_.cli_output("GET late"), lock.owner());
  lock.release();
}

TEST_F(RedisLostReplyTest, ASaveWhoseConnectionDropsAfterSendingIsVoidedAndReleased) {
  auto store = store_through_proxy();
  LockFactory factory(store);
  ASSERT_TRUE(store->exists("warm-up") == false);  // the connection is open and checked
  proxy_->cut_at_next_reply();  // the SET runs; its connection closes instead of answering
  auto lock = factory.create_lock("cut", forever);
  EXPECT_THROW((void)lock.acquire_immediately(), LockStorageError);
  // The outcome is unknown to the store: it voids the attempt (a marker that makes the save
  // take nothing should it still arrive) and releases the lock if the save took it.
  EXPECT_TRUE(eventually([&] { return !exists("cut"); })) << "the lock is held by nobody";
  EXPECT_TRUE(eventually([&] { return server_.cli_output("KEYS verrou:void:*").find("verrou:void:{") == 0; }))
      << "no void marker was written";
}

TEST_F(RedisLostReplyTest, DestroyingTheStoreWaitsForPendingSettling) {
  const auto start = SteadyClock::now();
  {
    auto store = store_through_proxy();
    proxy_->delay_replies(1500ms);
    EXPECT_THROW((void)store->save("on-exit", "owner", forever), LockStorageError);
  }  // the store goes while the reply is still on its way
  const auto took = SteadyClock::now() - start;
  EXPECT_FALSE(exists("on-exit")) << "the store was destroyed with a lock held by nobody";
  // Bounded: command timeout to drain, then connect + 2 command timeouts to settle.
  EXPECT_LT(took, 10s);
}

#ifdef VERROU_CLI_PATH
TEST_F(RedisLostReplyTest, TheVerrouCommandSettlesBeforeItExits) {
  proxy_->delay_replies(1500ms);
  const std::string url = "redis://127.0.0.1:" + std::to_string(proxy_->port()) +
                          "?connect_timeout=1s&command_timeout=500ms";
  const int status = std::system((std::string(VERROU_CLI_PATH) + " run --store '" + url +
                                  "' --key cli-exit --ttl forever -- true >/dev/null 2>&1")
                                     .c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 69) << "the store failure is exit code 69 (unavailable)";
  // Checked the moment it exited: it settled the lost save before exiting.
  EXPECT_FALSE(exists("cli-exit")) << "verrou exited leaving a forever lock held by nobody";
}
#endif

TEST_F(RedisLostReplyTest, AVoidedAttemptTakesNothing) {
  // The save script itself: with the attempt's void marker present it writes nothing.
  const auto& script = detail::redis::save_script();
  ASSERT_TRUE(server_.cli("SET verrou:void:{0}:attempt 1"));
  auto reply = server_.cli_output("EVAL \"" + script.body + "\" 3 lock verrou:fence:{0}:lock verrou:void:{0}:attempt owner 1000 60000");
  EXPECT_EQ(reply, "-1\n0");
  EXPECT_FALSE(exists("lock"));
  EXPECT_FALSE(exists("verrou:fence:{0}:lock"));
}

}  // namespace
}  // namespace verrou
