// SPDX-License-Identifier: Apache-2.0
// Failures: a Redis that goes away and comes back, one that never answers, one that is not
// there, connections that die silently. Each test runs its own redis-server on a port of its
// own, never the shared one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "fault_proxy.hpp"
#include "private_redis.hpp"
#include "redis_test_support.hpp"

namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}

namespace verrou {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

using redis_test::free_port;
using redis_test::PrivateRedis;

class RedisFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PrivateRedis::available()) VERROU_SKIP_OR_FAIL("redis-server or redis-cli is not installed");
    if (!server_.start()) VERROU_SKIP_OR_FAIL("could not start a private redis-server");
  }
  PrivateRedis server_;
};

std::string failure_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const LockStorageError& e) {
    return e.what();
  }
  return "(no LockStorageError)";
}

TEST_F(RedisFaultTest, ServerGoneIsAStorageErrorAndTheStoreRecoversWhenItReturns) {
  auto store = redis_test::make_store(server_.url());
  ASSERT_TRUE(store->save("k", "o", 30s));
  ASSERT_TRUE(store->exists("k"));

  server_.stop();
  auto what = failure_of([&] { store->exists("k"); });
  EXPECT_NE(what.find(server_.address()), std::string::npos) << what;
  EXPECT_NE(what.find("exists"), std::string::npos) << what;
  what = failure_of([&] { store->save("k2", "o", 30s); });
  EXPECT_NE(what.find("save"), std::string::npos) << what;
  what = failure_of([&] { store->remove("k", "o"); });
  EXPECT_NE(what.find("release"), std::string::npos) << what;
  what = failure_of([&] { store->extend("k", "o", 10s); });
  EXPECT_NE(what.find("extend"), std::string::npos) << what;

  ASSERT_TRUE(server_.start());
  // The same store object works again: dead pooled connections are replaced.
  EXPECT_FALSE(store->exists("k"));  // the server kept nothing
  EXPECT_TRUE(store->save("k", "o", 30s));
  store->remove("k", "o");
}

TEST_F(RedisFaultTest, ConnectionsClosedByTheServerWhileIdleAreReplacedSilently) {
  auto store = redis_test::make_store(server_.url());
  // Several pooled connections, and the subscriber's.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) (void)store->exists("k" + std::to_string(t));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(store->save("held", "a", 30s));
  auto start = SteadyClock::now();
  EXPECT_FALSE(store->save_waiting("held", "b", 30s, start + 200ms, start));

  ASSERT_TRUE(server_.cli("client kill type normal"));
  ASSERT_TRUE(server_.cli("client kill type pubsub"));
  std::this_thread::sleep_for(100ms);
  // No error: dead idle connections are noticed before use and replaced.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(store->exists("held"));
  // And the subscriber has come back: a waiter is woken by the release.
  std::thread releaser([&] {
    std::this_thread::sleep_for(500ms);
    store->remove("held", "a");
  });
  start = SteadyClock::now();
  EXPECT_TRUE(store->save_waiting("held", "b", 30s, start + 20s, start).has_value());
  EXPECT_LT(SteadyClock::now() - start, 10s);
  releaser.join();
  store->remove("held", "b");
}

TEST_F(RedisFaultTest, AWaiterIsNotStrandedWhenTheServerGoes) {
  auto store = redis_test::make_store(server_.url());
  ASSERT_TRUE(store->save("k", "holder", forever));
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    try {
      auto start = SteadyClock::now();
      (void)store->save_waiting("k", "waiter", 30s, start + 3s, start);
    } catch (const LockStorageError&) {
    }
    done = true;
  });
  std::this_thread::sleep_for(300ms);
  server_.stop();
  auto stopped_at = SteadyClock::now();
  while (!done && SteadyClock::now() - stopped_at < 20s) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(done.load()) << "the waiter hung after the server went away";
  waiter.join();

  ASSERT_TRUE(server_.start());
  // Waiting works again once the subscriber has reconnected.
  ASSERT_TRUE(store->save("k", "holder", 30s));
  std::thread releaser([&] {
    std::this_thread::sleep_for(500ms);
    store->remove("k", "holder");
  });
  auto start = SteadyClock::now();
  EXPECT_TRUE(store->save_waiting("k", "waiter", 30s, start + 20s, start).has_value());
  releaser.join();
}

TEST_F(RedisFaultTest, ThreadsCarryOnAfterARestartMidRun) {
  auto store = redis_test::make_store(server_.url());
  LockFactory factory(store);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<int> after_restart{0};
  std::atomic<bool> restarted{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = t % 2 == 0 ? "k0" : "k1";
      while (!stop) {
        try {
          auto lock = factory.create_lock(key, 10s);
          if (lock.acquire({.retry = {.delay = 5ms, .timeout = 2s}})) {
            lock.release();
            if (restarted) after_restart++;
          }
        } catch (const LockStorageError&) {
          errors++;
          std::this_thread::sleep_for(20ms);
        } catch (const LockNotOwnedError&) {
          // the restart dropped the lock this thread held
        }
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  server_.stop();
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(server_.start());
  restarted = true;
  auto deadline = SteadyClock::now() + 20s;
  while (after_restart < 100 && SteadyClock::now() < deadline) std::this_thread::sleep_for(20ms);
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GT(errors.load(), 0) << "the outage went unnoticed";
  EXPECT_GE(after_restart.load(), 100) << "the store did not recover after the restart";
}

TEST_F(RedisFaultTest, AConnectionThatDiedSilentlyWhileIdleIsReplacedBeforeUse) {
  redis_test::FaultProxy proxy(server_.port());
  auto store = redis_test::make_store("redis://127.0.0.1:" + std::to_string(proxy.port()) +
                                      "?connect_timeout=1s&command_timeout=1s");
  ASSERT_TRUE(store->save("k", "o", 30s));
  store->remove("k", "o");
  // A NAT or load balancer forgets the flow: nothing passes, nothing is closed.
  proxy.black_hole_open_connections();
  std::this_thread::sleep_for(6s);  // idle for longer than the store trusts a connection
  // PINGed before use, found dead, replaced: the save goes out on a live connection.
  EXPECT_TRUE(store->save("k", "o", 30s));
  EXPECT_EQ(server_.cli_output("GET k"), "o");
  store->remove("k", "o");
}

TEST_F(RedisFaultTest, TheSubscriberReplacesAConnectionThatDiedSilently) {
  redis_test::FaultProxy proxy(server_.port());
  auto store = redis_test::make_store("redis://127.0.0.1:" + std::to_string(proxy.port()) +
                                      "?connect_timeout=1s&command_timeout=1s");
  ASSERT_TRUE(store->save("k", "holder", forever));
  auto start = SteadyClock::now();
  EXPECT_FALSE(store->save_waiting("k", "waiter", 30s, start + 300ms, start));  // subscriber up
  proxy.black_hole_open_connections();
  std::this_thread::sleep_for(8s);  // its PING goes unanswered: it reconnects
  // A waiter with a long retry delay is woken by the release, not by its delay.
  std::thread releaser([&] {
    std::this_thread::sleep_for(500ms);
    store->remove("k", "holder");
  });
  start = SteadyClock::now();
  LockFactory factory(store);
  auto lock = factory.create_lock("k", 30s);
  EXPECT_TRUE(lock.acquire({.retry = {.delay = 60s, .timeout = 90s}}));
  EXPECT_LT(SteadyClock::now() - start, 10s) << "the waiter was not woken: the subscriber stayed on a dead connection";
  releaser.join();
  lock.release();
}

TEST_F(RedisFaultTest, ManyThreadsShareAFewConnections) {
  auto c = RedisConnection::from_url(server_.url());
  c.pool_size = 2;
  auto store = std::make_shared<RedisStore>(RedisStoreOptions{.connection = c});
  LockFactory factory(store);
  std::atomic<int> cycles{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&, t] {
      auto lock = factory.create_lock("pooled" + std::to_string(t), 10s);
      for (int i = 0; i < 100; ++i) {
        if (lock.acquire_immediately()) {
          lock.release();
          cycles++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cycles.load(), 32 * 100);
  // Two pipelined connections served 32 threads (plus redis-cli asking).
  const auto info = server_.cli_output("INFO clients");
  EXPECT_NE(info.find("connected_clients:3"), std::string::npos) << info;
}

TEST(RedisFaults, NothingListeningFailsFastNamingTheServer) {
  auto port = free_port();
  auto store = redis_test::make_store("redis://127.0.0.1:" + std::to_string(port) + "?connect_timeout=2s");
  auto start = SteadyClock::now();
  auto what = failure_of([&] { store->save("k", "o", 10s); });
  EXPECT_NE(what.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
  EXPECT_NE(what.find("refused"), std::string::npos) << what;
  EXPECT_LT(SteadyClock::now() - start, 5s);
}

TEST(RedisFaults, AServerThatNeverAnswersTimesOut) {
  // A listening socket nobody reads: connections complete, replies never come.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  auto port = std::to_string(ntohs(address.sin_port));
  auto store = redis_test::make_store("redis://127.0.0.1:" + port + "?command_timeout=500ms");
  auto start = SteadyClock::now();
  auto what = failure_of([&] { store->exists("k"); });
  auto took = SteadyClock::now() - start;
  EXPECT_NE(what.find("timed out"), std::string::npos) << what;
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 5s);
  // Same over TLS: a handshake that never completes is bounded by connect_timeout.
  auto tls = redis_test::make_store("rediss://127.0.0.1:" + port +
                                    "?connect_timeout=500ms&insecure_skip_verify=true");
  start = SteadyClock::now();
  what = failure_of([&] { tls->exists("k"); });
  EXPECT_NE(what.find("timed out"), std::string::npos) << what;
  EXPECT_LT(SteadyClock::now() - start, 5s);
  ::close(fd);
}

}  // namespace
}  // namespace verrou
