// SPDX-License-Identifier: Apache-2.0
// The fixture of the interop tests (interop_test.cpp, interop_data_test.cpp): one store both
// libraries open, verrou-cpp in this process and @verrou/core in a Node.js helper
// (node_process.hpp), and the calls the tests make on the Node.js side.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
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

namespace verrou::interop {

using json = nlohmann::json;

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

inline void PrintTo(const Target& t, std::ostream* out) { *out << t.name; }

// Every store of this build that both libraries have (interop_fixture.cpp).
std::vector<Target> targets();

// nullopt when a TCP connection to the store's server opens within 2 s; otherwise why not.
std::optional<std::string> unreachable(const std::string& url);

inline std::int64_t now_ms() {
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

}  // namespace verrou::interop
