// SPDX-License-Identifier: Apache-2.0
//
// The lease boundary, per store: while a holder's Lock says its lease is still valid (its
// expiration time, from a clock read just before the store wrote the lock, plus the TTL), no
// other owner may take the lock. A second owner polls the key as fast as it can around the
// moment of expiry; the instant its acquire returned must not be before the first holder's
// expiration time. A store that rounds its clock up, or counts the lease from an earlier
// instant than the lock does, lets the second owner in early — by a fraction of a millisecond,
// which is enough for two holders to act at once.
#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "verrou/verrou.hpp"

namespace {

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

bool servers_required() {
  const char* v = std::getenv("VERROU_REQUIRE_SERVERS");
  return v != nullptr && std::string(v) == "1";
}

// Runs `rounds` hand-overs of a lock of `ttl` on `url`; fails the test on the first early one.
void check_lease_boundary(const std::string& url, int rounds = 40,
                          verrou::Duration ttl = verrou::Duration(40)) {
  std::shared_ptr<verrou::LockStore> store;
  try {
    store = verrou::open_store(url);
    (void)store->exists("lease-boundary:probe");
  } catch (const verrou::LockStorageError& e) {
    if (servers_required()) FAIL() << verrou::redact_url(url) << " unreachable: " << e.what();
    GTEST_SKIP() << verrou::redact_url(url) << " unreachable: " << e.what();
  }
  verrou::LockFactory locks(store);
  const std::string key = "lease-boundary:" + std::to_string(realtime_ns());
  int early = 0;
  std::int64_t worst_ns = 0;
  for (int round = 0; round < rounds; ++round) {
    auto first = locks.create_lock(key, ttl);
    // A store may refuse an acquisition it cannot give its whole TTL (etcd, when granting a
    // lease took too long on a loaded machine): that says nothing of the boundary, try again.
    bool held = false;
    for (int attempt = 0; !held; ++attempt) {
      try {
        held = first.acquire_immediately();
        ASSERT_TRUE(held);
      } catch (const verrou::LockStorageError& e) {
        if (attempt == 4) FAIL() << "five acquisitions failed, the last one: " << e.what();
      }
    }
    const auto expiration_ms = first.serialize().expiration_time;
    ASSERT_TRUE(expiration_ms.has_value());
    const std::int64_t expiration_ns = *expiration_ms * 1'000'000;
    // Sleep to just before the expiry, then poll as fast as the store answers.
    std::this_thread::sleep_for(std::chrono::nanoseconds(expiration_ns - realtime_ns()) -
                                std::chrono::milliseconds(3));
    auto second = locks.create_lock(key, ttl);
    const std::int64_t give_up = expiration_ns + 2'000'000'000;
    bool taken = false;
    std::int64_t returned = 0;
    while (!taken && realtime_ns() < give_up) {
      try {
        taken = second.acquire_immediately();
      } catch (const verrou::LockStorageError&) {  // as above: not an answer about the lock
      }
      returned = realtime_ns();
    }
    ASSERT_TRUE(taken) << "the first lock never expired";
    if (returned < expiration_ns) {
      ++early;
      worst_ns = std::max(worst_ns, expiration_ns - returned);
    }
    second.release();
  }
  EXPECT_EQ(early, 0) << verrou::redact_url(url) << ": in " << early << " of " << rounds
                      << " hand-overs a second owner held the lock while the first one's lease "
                         "was still valid by its Lock (its expiration time), by up to "
                      << static_cast<double>(worst_ns) / 1e6 << " ms";
}

TEST(LeaseBoundary, Memory) { check_lease_boundary("memory:"); }

#ifdef VERROU_HAS_SQLITE
TEST(LeaseBoundary, Sqlite) {
  check_lease_boundary("sqlite://" + ::testing::TempDir() + "verrou-lease-boundary-" +
                       std::to_string(realtime_ns()) + ".db");
}
#endif

#ifdef VERROU_HAS_POSTGRES
TEST(LeaseBoundary, Postgres) {
  check_lease_boundary(
      env_or("VERROU_POSTGRES_URL", "postgres://verrou:verrou@127.0.0.1:5432/verrou"));
}
#endif

#ifdef VERROU_HAS_MYSQL
TEST(LeaseBoundary, Mysql) {
  check_lease_boundary(env_or("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou"));
}
#endif

#ifdef VERROU_HAS_REDIS
TEST(LeaseBoundary, Redis) {
  check_lease_boundary(env_or("VERROU_REDIS_URL", "redis://127.0.0.1:6379"));
}

TEST(LeaseBoundary, RedisCluster) {
  check_lease_boundary(env_or("VERROU_REDIS_CLUSTER_URL",
                              "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"));
}
#endif

#ifdef VERROU_HAS_DYNAMODB
TEST(LeaseBoundary, Dynamodb) {
  ::setenv("AWS_ACCESS_KEY_ID", "verrouTests", 0);
  ::setenv("AWS_SECRET_ACCESS_KEY", "verrouTestsSecret", 0);
  check_lease_boundary(
      env_or("VERROU_DYNAMODB_URL",
             "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000&table=verrou_tests"));
}

TEST(LeaseBoundary, DynamodbLocal) {
  ::setenv("AWS_ACCESS_KEY_ID", "verrouTests", 0);
  ::setenv("AWS_SECRET_ACCESS_KEY", "verrouTestsSecret", 0);
  check_lease_boundary(env_or(
      "VERROU_DYNAMODB_LOCAL_URL",
      "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001&table=verrou_tests"));
}
#endif

#ifdef VERROU_HAS_ETCD
std::string etcd_url(const std::string& expiry) {
  std::string url = env_or("VERROU_ETCD_URL", "etcd://127.0.0.1:2379");
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "expiry=" + expiry;
}

// etcd's leases judge expiry: the second owner gets in once etcd deleted the key. 1.7 s is
// the longest TTL whose lease is etcd's 2 s minimum, so the margin is the smallest the store
// keeps (0.1 % and 20 ms for clock rates, 0.25 s of lease sharing).
TEST(LeaseBoundary, Etcd) {
  check_lease_boundary(etcd_url("lease"), 8, verrou::Duration(1700));
}

// Each reader's clock judges expiry (one machine here).
TEST(LeaseBoundary, EtcdClock) { check_lease_boundary(etcd_url("clock")); }
#endif

}  // namespace
