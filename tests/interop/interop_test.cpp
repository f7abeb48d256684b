// SPDX-License-Identifier: Apache-2.0
//
// verrou-cpp and @verrou/core (Node.js) on the same store: each respects the other's locks,
// takes them over only once expired, restores the other's serialized locks, and reads the data
// the other writes (never-expiring locks too). The Node.js side is tests/interop/node/helper.mjs,
// driven over a pipe; both sides are pointed at the same store with one URL.
//
// This file: locks held, expired, serialized and never-expiring, each way round. The data each
// side writes and the other reads: interop_data_test.cpp; the fixture: interop_fixture.hpp.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "interop_fixture.hpp"

namespace verrou::interop {
namespace {

using namespace std::chrono_literals;

TEST_P(Interop, LockHeldByNodeIsNotTakenByCpp) {
  OPEN_OR_SKIP(true);
  const auto k = key("held-by-node");
  node_create("a", k, 30s);
  ASSERT_TRUE(node_acquire_now("a"));

  auto lock = locks_->create_lock(k, 30s);
  EXPECT_FALSE(lock.acquire_immediately());
  EXPECT_TRUE(lock.is_locked());
  EXPECT_FALSE(lock.acquire({.retry = {.attempts = 3, .delay = 20ms}}));
  EXPECT_THROW(lock.release(), verrou::LockNotOwnedError);

  // A C++ waiter takes the lock once Node.js releases it (Verrou announces no release, so the
  // waiter finds out by retrying).
  auto waiter = std::async(std::launch::async, [&lock] {
    return lock.acquire({.retry = {.delay = 20ms, .timeout = 30s}});
  });
  EXPECT_EQ(waiter.wait_for(300ms), std::future_status::timeout) << "took a lock Node.js holds";
  EXPECT_EQ(node_release("a"), "");
  ASSERT_TRUE(waiter.get());

  node_create("b", k, 30s);
  EXPECT_FALSE(node_acquire_now("b"));
  EXPECT_TRUE(node_is_locked("b"));
  EXPECT_EQ(node_release("b"), "E_LOCK_NOT_OWNED");
  lock.release();
  EXPECT_FALSE(node_is_locked("b"));
  EXPECT_TRUE(node_acquire_now("b"));
  EXPECT_EQ(node_release("b"), "");
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(Interop, LockHeldByCppIsNotTakenByNode) {
  OPEN_OR_SKIP(false);
  const auto k = key("held-by-cpp");
  auto lock = locks_->create_lock(k, 30s);
  ASSERT_TRUE(lock.acquire_immediately());

  node_create("a", k, 30s);
  EXPECT_FALSE(node_acquire_now("a"));
  EXPECT_TRUE(node_is_locked("a"));
  EXPECT_FALSE(node_->ok({{"op", "acquire"}, {"id", "a"}, {"retry", {{"attempts", 3}, {"delay", 20}}}})
                   ["result"].get<bool>());
  EXPECT_EQ(node_release("a"), "E_LOCK_NOT_OWNED");

  // A Node.js waiter takes the lock once C++ releases it.
  node_->send({{"op", "acquire"}, {"id", "a"}, {"retry", {{"delay", 20}, {"timeout", 30000}}}});
  std::this_thread::sleep_for(300ms);
  lock.release();
  const auto answer = node_->receive();
  ASSERT_TRUE(answer["ok"].get<bool>()) << answer.dump();
  ASSERT_TRUE(answer["result"].get<bool>()) << "Node.js did not get the lock C++ released";

  auto other = locks_->create_lock(k, 30s);
  EXPECT_FALSE(other.acquire_immediately());
  EXPECT_TRUE(other.is_locked());
  EXPECT_EQ(node_release("a"), "");
  EXPECT_FALSE(other.is_locked());
  EXPECT_TRUE(other.acquire_immediately());
  other.release();
}

TEST_P(Interop, LockWrittenByNodeExpiresForCpp) {
  OPEN_OR_SKIP(true);
  const auto k = key("node-expires");
  node_create("a", k, 600ms);
  ASSERT_TRUE(node_acquire_now("a"));
  // The lease as stored (Verrou's Lock records its own expiration time a moment later).
  const auto expiration = node_raw(k)["expiration"].get<std::int64_t>();

  auto lock = locks_->create_lock(k, 30s);
  EXPECT_FALSE(lock.acquire_immediately());
  ASSERT_TRUE(lock.acquire({.retry = {.delay = 20ms, .timeout = 30s}}));
  // Taken no earlier than the stored lease ended (every clock involved is this machine's;
  // 1 ms for SQLite's julianday() rounding).
  EXPECT_GE(now_ms() + 1, expiration);

  // The expired Node.js holder can no longer release or extend the lock C++ now holds.
  EXPECT_EQ(node_release("a"), "E_LOCK_NOT_OWNED");
  EXPECT_FALSE(node_->call({{"op", "extend"}, {"id", "a"}})["ok"].get<bool>());
  EXPECT_TRUE(node_is_locked("a"));
  lock.release();
  EXPECT_FALSE(node_is_locked("a"));
}

TEST_P(Interop, LockWrittenByCppExpiresForNode) {
  OPEN_OR_SKIP(false);
  const auto k = key("cpp-expires");
  auto lock = locks_->create_lock(k, 600ms);
  ASSERT_TRUE(lock.acquire_immediately());
  const auto expiration = node_raw(k)["expiration"].get<std::int64_t>();
  if (GetParam().kind != Kind::redis) {  // (Redis's expiry read back is only a lower bound)
    // The lease as stored ends no earlier than verrou-cpp believes: it never thinks it still
    // holds a lock the store has let go. (1 ms: SQLite's julianday() rounding.)
    EXPECT_GE(expiration + 1, lock.serialize().expiration_time.value());
  }

  node_create("a", k, 30s);
  EXPECT_FALSE(node_acquire_now("a"));
  const auto got = node_->ok({{"op", "acquire"}, {"id", "a"}, {"retry", {{"delay", 20}, {"timeout", 30000}}}},
                             60s);
  ASSERT_TRUE(got["result"].get<bool>());
  EXPECT_GE(node_now() + 1, expiration);

  EXPECT_THROW(lock.release(), verrou::LockNotOwnedError);
  EXPECT_THROW(lock.extend(), verrou::LockNotOwnedError);
  EXPECT_TRUE(lock.is_locked());
  EXPECT_EQ(node_release("a"), "");
  EXPECT_FALSE(lock.is_locked());
}

TEST_P(Interop, LockSerializedByNodeIsRestoredAndReleasedByCpp) {
  OPEN_OR_SKIP(true);
  const auto k = key("node-serialized");
  const auto owner = node_create("a", k, 30s);
  ASSERT_TRUE(node_acquire_now("a"));
  const auto text = node_serialize("a");

  const auto s = verrou::SerializedLock::from_json(text);
  EXPECT_EQ(s.key, k);
  EXPECT_EQ(s.owner, owner);
  EXPECT_EQ(s.ttl, Duration(30000));
  ASSERT_TRUE(s.expiration_time.has_value());
  EXPECT_NEAR(static_cast<double>(*s.expiration_time), static_cast<double>(now_ms() + 30000), 10000.0);

  auto restored = locks_->restore_lock(s);
  EXPECT_EQ(restored.owner(), owner);
  EXPECT_FALSE(restored.is_expired());
  ASSERT_TRUE(restored.remaining_time().has_value());
  EXPECT_GT(*restored.remaining_time(), Duration(0));
  EXPECT_LE(*restored.remaining_time(), Duration(30000));
  EXPECT_TRUE(restored.is_locked());
  EXPECT_NO_THROW(restored.extend());
  EXPECT_NO_THROW(restored.release());

  EXPECT_FALSE(node_is_locked("a"));
  EXPECT_EQ(node_release("a"), "E_LOCK_NOT_OWNED");
  auto other = locks_->create_lock(k, 30s);
  EXPECT_TRUE(other.acquire_immediately());
  other.release();
}

TEST_P(Interop, LockSerializedByCppIsRestoredAndReleasedByNode) {
  OPEN_OR_SKIP(false);
  const auto k = key("cpp-serialized");
  auto lock = locks_->create_lock(k, 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  const auto text = lock.serialize().to_json();

  EXPECT_EQ(node_restore("b", text), lock.owner());
  // Verrou reads every field as written, except the fencing token it does not know.
  auto expected = lock.serialize();
  expected.fencing_token.reset();
  auto expected_json = json::parse(text);
  expected_json.erase("fencingToken");
  EXPECT_EQ(verrou::SerializedLock::from_json(node_serialize("b")), expected);
  EXPECT_EQ(json::parse(node_serialize("b")), expected_json);
  EXPECT_FALSE(node_bool("is_expired", "b"));
  EXPECT_TRUE(node_is_locked("b"));
  node_->ok({{"op", "extend"}, {"id", "b"}});
  EXPECT_EQ(node_release("b"), "");

  EXPECT_FALSE(lock.is_locked());
  EXPECT_THROW(lock.release(), verrou::LockNotOwnedError);
  node_create("c", k, 30s);
  EXPECT_TRUE(node_acquire_now("c"));
  EXPECT_EQ(node_release("c"), "");
}

TEST_P(Interop, NeverExpiringLockWrittenByNode) {
  OPEN_OR_SKIP(true);
  const auto k = key("node-forever");
  const auto owner = node_create("a", k, std::nullopt);
  ASSERT_TRUE(node_acquire_now("a"));

  const auto raw = node_raw(k);
  ASSERT_TRUE(raw.is_object());
  EXPECT_EQ(raw["owner"], owner);
  EXPECT_TRUE(raw["expiration"].is_null()) << raw.dump();
#if defined(VERROU_HAS_DATABASE)
  if (sql()) {
    const auto row = cpp_row(k);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->owner, owner);
    EXPECT_FALSE(row->expiration.has_value());
    EXPECT_FALSE(row->expired);
  }
#endif

  auto lock = locks_->create_lock(k, verrou::forever);
  EXPECT_FALSE(lock.acquire_immediately());
  EXPECT_TRUE(lock.is_locked());

  const auto s = verrou::SerializedLock::from_json(node_serialize("a"));
  EXPECT_FALSE(s.ttl.has_value());
  EXPECT_FALSE(s.expiration_time.has_value());
  auto restored = locks_->restore_lock(s);
  EXPECT_FALSE(restored.is_expired());
  EXPECT_FALSE(restored.remaining_time().has_value());
  EXPECT_THROW(restored.extend(), verrou::InvalidArgumentError);
  restored.release();
  EXPECT_FALSE(node_is_locked("a"));
  EXPECT_TRUE(lock.acquire_immediately());
  lock.release();
}

TEST_P(Interop, NeverExpiringLockWrittenByCpp) {
  OPEN_OR_SKIP(false);
  const auto k = key("cpp-forever");
  auto lock = locks_->create_lock(k, verrou::forever);
  ASSERT_TRUE(lock.acquire_immediately());

  const auto raw = node_raw(k);
  ASSERT_TRUE(raw.is_object()) << "Node.js finds no lock data at " << k;
  EXPECT_EQ(raw["owner"], lock.owner());
  EXPECT_TRUE(raw["expiration"].is_null()) << raw.dump();
  if (GetParam().kind == Kind::redis) {
    EXPECT_EQ(raw["pttl"], -1);
  }
  if (GetParam().kind == Kind::dynamodb) {
    // No expires_at: never expires. (verrou-cpp adds a write_id, which Verrou ignores.)
    EXPECT_EQ(raw["attributes"].dump().find("expires_at"), std::string::npos) << raw.dump();
  }

  node_create("a", k, std::nullopt);
  EXPECT_FALSE(node_acquire_now("a"));
  EXPECT_TRUE(node_is_locked("a"));

  const auto text = lock.serialize().to_json();
  EXPECT_EQ(json::parse(text)["ttl"], nullptr);
  EXPECT_EQ(json::parse(text)["expirationTime"], nullptr);
  node_restore("b", text);
  EXPECT_FALSE(node_bool("is_expired", "b"));
  EXPECT_EQ(node_release("b"), "");
  EXPECT_FALSE(lock.is_locked());
  EXPECT_THROW(lock.release(), verrou::LockNotOwnedError);
}

}  // namespace
}  // namespace verrou::interop
