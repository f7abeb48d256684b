// SPDX-License-Identifier: Apache-2.0
// verrou-cpp and @verrou/core (Node.js) on the same store (see interop_test.cpp): the data each
// side writes is what the other reads (SQL rows, Redis values, DynamoDB items), and DynamoDB's
// free items and fencing counter stay out of Verrou's way.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "interop_fixture.hpp"

namespace verrou::interop {
namespace {

using namespace std::chrono_literals;

TEST_P(Interop, DataWrittenByCppIsReadByNode) {
  OPEN_OR_SKIP(false);
  const auto k = key("cpp-data");
  auto lock = locks_->create_lock(k, 20s);
  const auto before = now_ms();
  ASSERT_TRUE(lock.acquire_immediately());
  const auto after = now_ms();

  const auto raw = node_raw(k);
  ASSERT_TRUE(raw.is_object()) << "Node.js finds no lock data at " << k;
  EXPECT_EQ(raw["owner"], lock.owner());
  ASSERT_TRUE(raw["expiration"].is_number_integer()) << raw.dump();
  const auto expiration = raw["expiration"].get<std::int64_t>();
  // Epoch milliseconds, 20 s ahead (Redis reports the lease left, so allow for a round trip).
  EXPECT_GE(expiration, before + 20000 - 1000);
  EXPECT_LE(expiration, after + 20000 + 1000);
  if (GetParam().kind == Kind::redis) {
    EXPECT_GT(raw["pttl"].get<std::int64_t>(), 15000);
    EXPECT_LE(raw["pttl"].get<std::int64_t>(), 20000);
  }
  if (GetParam().kind == Kind::dynamodb) {
    // Verrou's attributes, as DynamoDB types: `expires_at` a number (raw_get read it as N).
    const auto& attributes = raw["attributes"];
    for (const char* name : {"expires_at", "key", "owner"}) {
      EXPECT_NE(std::find(attributes.begin(), attributes.end(), name), attributes.end())
          << name << " missing from " << raw.dump();
    }
  }
  if (sql()) {
    // The table verrou-cpp made has Verrou's columns.
    EXPECT_EQ(node_->ok({{"op", "columns"}})["result"], json({"expiration", "key", "owner"}));
  }

  node_create("a", k, 20s);
  EXPECT_TRUE(node_is_locked("a"));
  EXPECT_FALSE(node_acquire_now("a"));

  lock.release();
  if (GetParam().kind == Kind::dynamodb) {
    // A release leaves a free item that keeps the key's fencing counter: no owner, expired
    // for every clock.
    const auto left = node_raw(k);
    ASSERT_TRUE(left.is_object()) << left.dump();
    EXPECT_TRUE(left["owner"].is_null()) << left.dump();
    EXPECT_EQ(left["expiration"], 0) << left.dump();
    EXPECT_FALSE(node_is_locked("a"));
  } else {
    // A release removes the data, as Verrou's does.
    EXPECT_TRUE(node_raw(k).is_null()) << node_raw(k).dump();
  }
}

#if defined(VERROU_HAS_DYNAMODB)
TEST_P(Interop, DynamoDbFreeItemsAndFencingCounterAroundVerrou) {
  if (GetParam().kind != Kind::dynamodb) GTEST_SKIP() << "DynamoDB's fencing counter";
  OPEN_OR_SKIP(false);
  const auto k = key("fencing");
  auto attributes = [&] { return node_raw(k)["attributes"].dump(); };
  auto cpp_token = [&] {
    auto lock = locks_->create_lock(k, 30s);
    EXPECT_TRUE(lock.acquire_immediately());
    const auto token = lock.fencing_token();
    EXPECT_TRUE(token.has_value());
    lock.release();
    return token.value_or(0);
  };

  const auto t1 = cpp_token();
  EXPECT_NE(attributes().find("fencing_token"), std::string::npos) << attributes();
  // Verrou on the free item verrou-cpp left: not held, not releasable or extendable by a
  // stranger, and taken by an acquisition, whose whole-item write drops the counter.
  node_create("a", k, 30s);
  EXPECT_FALSE(node_is_locked("a"));
  EXPECT_EQ(node_release("a"), "E_LOCK_NOT_OWNED");
  EXPECT_FALSE(node_->call({{"op", "extend"}, {"id", "a"}})["ok"].get<bool>());
  ASSERT_TRUE(node_acquire_now("a"));
  EXPECT_EQ(attributes().find("fencing_token"), std::string::npos) << attributes();
  auto held = locks_->create_lock(k, 30s);
  EXPECT_FALSE(held.acquire_immediately()) << "verrou-cpp took a lock Verrou holds";
  EXPECT_EQ(node_release("a"), "");
  EXPECT_TRUE(node_raw(k).is_null()) << "Verrou's release deletes the item";

  // The counter starts again from the clock, above every token given before.
  const auto t2 = cpp_token();
  EXPECT_GT(t2, t1);

  // Verrou extending and releasing a lock verrou-cpp took (a handed-over lock): the same.
  auto lock = locks_->create_lock(k, 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  const auto t3 = lock.fencing_token().value_or(0);
  EXPECT_GT(t3, t2);
  node_restore("b", lock.serialize().to_json());
  node_->ok({{"op", "extend"}, {"id", "b"}});
  EXPECT_EQ(node_release("b"), "");
  EXPECT_GT(cpp_token(), t3);
}
#endif

TEST_P(Interop, DataWrittenByNodeIsReadByCpp) {
  OPEN_OR_SKIP(true);
  const auto k = key("node-data");
  const auto owner = node_create("a", k, 20s);
  ASSERT_TRUE(node_acquire_now("a"));
  const auto raw = node_raw(k);
  ASSERT_TRUE(raw.is_object());
  EXPECT_EQ(raw["owner"], owner);
#if defined(VERROU_HAS_DATABASE)
  if (sql()) {
    const auto row = cpp_row(k);
    ASSERT_TRUE(row.has_value()) << "verrou-cpp finds no row for " << k;
    EXPECT_EQ(row->owner, owner);
    EXPECT_EQ(row->expiration, raw["expiration"].get<std::int64_t>());
    EXPECT_FALSE(row->expired);
  }
#endif
  auto lock = locks_->create_lock(k, 20s);
  EXPECT_TRUE(lock.is_locked());
  EXPECT_FALSE(lock.acquire_immediately());
  EXPECT_EQ(node_release("a"), "");
  EXPECT_FALSE(lock.is_locked());

  if (GetParam().kind == Kind::redis) return;  // Redis keeps no expired data to take over
  // A lease Verrou wrote that has run out (a crashed Node.js holder): free to C++.
  const auto stale = key("node-stale");
  node_->ok({{"op", "raw_put"}, {"key", stale}, {"owner", "crashed-node-owner"},
             {"expiration", node_now() - 60000}});
  auto taker = locks_->create_lock(stale, 20s);
  EXPECT_FALSE(taker.is_locked());
  ASSERT_TRUE(taker.acquire_immediately());
  const auto taken = node_raw(stale);
  EXPECT_EQ(taken["owner"], taker.owner());
  EXPECT_GT(taken["expiration"].get<std::int64_t>(), now_ms() + 10000);
  node_create("b", stale, 20s);
  EXPECT_TRUE(node_is_locked("b"));
  EXPECT_FALSE(node_acquire_now("b"));
  taker.release();
  EXPECT_TRUE(node_acquire_now("b"));
  EXPECT_EQ(node_release("b"), "");
}

}  // namespace
}  // namespace verrou::interop
