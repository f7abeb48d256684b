// SPDX-License-Identifier: Apache-2.0
//
// verrou-cpp and @verrou/core (Node.js) on the same store: each respects the other's locks,
// takes them over only once expired, restores the other's serialized locks, and reads the data
// the other writes (never-expiring locks too). The Node.js side is tests/interop/node/helper.mjs,
// driven over a pipe; both sides are pointed at the same store with one URL.
#include <gtest/gtest.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <verrou/errors.hpp>
#include <verrou/lock.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/serialized_lock.hpp>
#include <verrou/testing/server.hpp>
#if defined(VERROU_HAS_DATABASE)
#include <verrou/drivers/database.hpp>
#endif
#if defined(VERROU_HAS_DYNAMODB)
#include <verrou/drivers/dynamodb.hpp>
#endif

#include "node_process.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using verrou::Duration;
using verrou::conformance::env_or;
using verrou::interop::NodeHelper;

enum class Kind { redis, sqlite, sql_server, dynamodb };

// One store both libraries have. `url(unique)` is the store URL both sides open (`unique` is
// a name no other test uses, for tables and files); `node_driver` is Verrou's SQL store on the
// Node.js side ("knex" or "kysely").
struct Target {
  std::string name;
  Kind kind;
  std::string (*url)(const std::string& unique);
  std::string node_driver = "knex";
};

void PrintTo(const Target& t, std::ostream* out) { *out << t.name; }

std::string with_param(std::string url, const std::string& name, const std::string& value) {
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + name + "=" + value;
}

std::string redis_url(const std::string&) {
  return env_or("VERROU_REDIS_URL", "redis://127.0.0.1:6379");
}
// No table option: both libraries' default table name, `verrou`, is used (the file is unique).
std::string sqlite_url(const std::string& unique) {
  return "sqlite://" + env_or("TMPDIR", "/tmp") + "/verrou-interop-" + unique + ".db";
}
std::string postgres_url(const std::string& unique) {
  return with_param(env_or("VERROU_POSTGRES_URL", "postgres://verrou:verrou@127.0.0.1:5432/verrou"),
                    "table", unique);
}
std::string mysql_url(const std::string& unique) {
  return with_param(env_or("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou"),
                    "table", unique);
}
[[maybe_unused]] std::string dynalite_url(const std::string& unique) {
  return with_param(env_or("VERROU_DYNAMODB_URL",
                           "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000"),
                    "table", unique);
}
[[maybe_unused]] std::string dynamodb_local_url(const std::string& unique) {
  return with_param(env_or("VERROU_DYNAMODB_LOCAL_URL",
                           "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001"),
                    "table", unique);
}

std::vector<Target> targets() {
  std::vector<Target> out;
#if defined(VERROU_HAS_REDIS)
  out.push_back({"Redis", Kind::redis, redis_url});
#endif
#if defined(VERROU_HAS_SQLITE)
  out.push_back({"SQLite", Kind::sqlite, sqlite_url});
  out.push_back({"SQLite_kysely", Kind::sqlite, sqlite_url, "kysely"});
#endif
#if defined(VERROU_HAS_POSTGRES)
  out.push_back({"PostgreSQL", Kind::sql_server, postgres_url});
  out.push_back({"PostgreSQL_kysely", Kind::sql_server, postgres_url, "kysely"});
#endif
#if defined(VERROU_HAS_MYSQL)
  out.push_back({"MariaDB", Kind::sql_server, mysql_url});
  out.push_back({"MariaDB_kysely", Kind::sql_server, mysql_url, "kysely"});
#endif
#if defined(VERROU_HAS_DYNAMODB)
  out.push_back({"DynamoDB_dynalite", Kind::dynamodb, dynalite_url});
  out.push_back({"DynamoDB_Local", Kind::dynamodb, dynamodb_local_url});
#endif
  return out;
}

// host:port a store URL connects to (nullopt for a file).
std::optional<std::pair<std::string, std::string>> server_of(const std::string& url) {
  std::string authority;
  if (const auto e = url.find("endpoint="); e != std::string::npos) {
    authority = url.substr(e + 9);
    authority = authority.substr(authority.find("://") + 3);
  } else if (url.rfind("sqlite:", 0) == 0) {
    return std::nullopt;
  } else {
    authority = url.substr(url.find("://") + 3);
  }
  authority = authority.substr(0, authority.find_first_of("/?&"));
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(authority.substr(0, colon), authority.substr(colon + 1));
}

// nullopt when a TCP connection to the store's server opens within 2 s; otherwise why not.
// (A plain connect has no side effects: it creates no table, unlike opening a store.)
std::optional<std::string> unreachable(const std::string& url) {
  const auto server = server_of(url);
  if (!server) return std::nullopt;
  const std::string where = server->first + ":" + server->second;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(server->first.c_str(), server->second.c_str(), &hints, &found) != 0) {
    return "cannot resolve " + where;
  }
  bool ok = false;
  for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::poll(&p, 1, 2000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
           err == 0;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (ok) return std::nullopt;
  return "no server at " + where;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Interop : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    std::string unique = "verrou_interop_" + verrou::conformance::unique_suffix();
    std::replace_if(unique.begin(), unique.end(), [](char c) { return std::isalnum(c) == 0; }, '_');
    unique_ = unique;
    url_ = GetParam().url(unique);
  }

  void TearDown() override {
    locks_.reset();
    cpp_.reset();  // its connections go before the table does
    if (node_) {
      try {
        node_->call({{"op", "drop"}});
      } catch (const std::exception& e) {
        ADD_FAILURE() << "dropping the test table: " << e.what();
      }
      node_.reset();
    }
    if (GetParam().kind == Kind::sqlite) {
      const std::string path = url_.substr(std::string("sqlite://").size());
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
    }
  }

  // Opens the store on both sides; the first opener creates the table (for SQL and DynamoDB
  // stores), so tests run on tables made by each library. Returns why the server cannot be
  // reached, or nullopt.
  std::optional<std::string> open(bool node_first) {
    if (auto why = unreachable(url_)) return why;
    if (node_first) open_node();
    open_cpp();
    if (!node_first) open_node();
    return std::nullopt;
  }

  void open_cpp() {
#if defined(VERROU_HAS_DYNAMODB)
    if (GetParam().kind == Kind::dynamodb) {
      auto options = verrou::DynamoDbStoreOptions::from_url(url_);
      options.credentials = verrou::AwsCredentials{"verrouTests", "verrouTestsSecret", ""};
      cpp_ = std::make_shared<verrou::DynamoDbStore>(std::move(options));
    }
#endif
    if (!cpp_) cpp_ = verrou::open_store(url_);
    locks_ = std::make_unique<verrou::LockFactory>(cpp_);
  }

  void open_node() { node_ = std::make_unique<NodeHelper>(url_, GetParam().node_driver); }

  [[nodiscard]] std::string key(const std::string& name) const {
    return "verrou-interop:" + unique_ + ":" + name;
  }

  [[nodiscard]] bool sql() const {
    return GetParam().kind == Kind::sqlite || GetParam().kind == Kind::sql_server;
  }

  // ---- the Node.js side, one call each ----
  static json ttl_json(std::optional<Duration> ttl) {
    return ttl ? json(ttl->count()) : json(nullptr);
  }
  std::string node_create(const std::string& id, const std::string& k, std::optional<Duration> ttl) {
    return node_->ok({{"op", "create"}, {"id", id}, {"key", k}, {"ttl", ttl_json(ttl)}})["owner"];
  }
  bool node_bool(const std::string& op, const std::string& id) {
    return node_->ok({{"op", op}, {"id", id}})["result"].get<bool>();
  }
  bool node_acquire_now(const std::string& id) { return node_bool("acquire_immediately", id); }
  bool node_is_locked(const std::string& id) { return node_bool("is_locked", id); }
  // "" when released; otherwise Verrou's error code.
  std::string node_release(const std::string& id) {
    auto r = node_->call({{"op", "release"}, {"id", id}});
    if (r["ok"].get<bool>()) return "";
    return r["code"].is_string() ? r["code"].get<std::string>() : r.dump();
  }
  std::string node_serialize(const std::string& id) {
    return node_->ok({{"op", "serialize"}, {"id", id}})["result"];
  }
  std::string node_restore(const std::string& id, const std::string& serialized) {
    return node_->ok({{"op", "restore"}, {"id", id}, {"json", serialized}})["owner"];
  }
  json node_raw(const std::string& k) { return node_->ok({{"op", "raw_get"}, {"key", k}})["result"]; }
  std::int64_t node_now() { return node_->ok({{"op", "now"}})["result"].get<std::int64_t>(); }

#if defined(VERROU_HAS_DATABASE)
  // The row as verrou-cpp's SQL adapter reads it.
  std::optional<verrou::DatabaseLockRow> cpp_row(const std::string& k) {
    auto* db = dynamic_cast<verrou::DatabaseStore*>(cpp_.get());
    if (db == nullptr) {
      ADD_FAILURE() << "the C++ store of " << url_ << " is not a DatabaseStore";
      return std::nullopt;
    }
    return db->adapter()->get_lock(k);
  }
#endif

  std::string unique_;
  std::string url_;
  std::shared_ptr<verrou::LockStore> cpp_;
  std::unique_ptr<verrou::LockFactory> locks_;
  std::unique_ptr<NodeHelper> node_;
};

#define OPEN_OR_SKIP(node_first)                          \
  do {                                                    \
    if (auto why_ = open(node_first)) VERROU_SKIP_OR_FAIL(*why_); \
  } while (false)

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

// This program links the conformance suite's library for its server helpers only.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

std::string target_name(const ::testing::TestParamInfo<Target>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(Stores, Interop, ::testing::ValuesIn(targets()), target_name);

}  // namespace
