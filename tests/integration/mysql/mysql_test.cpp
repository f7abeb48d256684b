// SPDX-License-Identifier: Apache-2.0
// The MySQL/MariaDB store: conformance, Verrou's schema, the server's clock.
#include <gtest/gtest.h>
#include <mysql.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <verrou/drivers/mysql.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>

#include "integration/mysql/mysql_helpers.hpp"

using verrou::conformance::StoreConformance;
using namespace std::chrono_literals;

INSTANTIATE_TEST_SUITE_P(Mysql, StoreConformance,
                         ::testing::Values(verrou::conformance::StoreHarness{
                             .name = "mariadb",
                             .make_store = [] { return verrou::open_store(mytest::url()); },
                             .unavailable = [] { return mytest::unavailable(); },
                             .contention_cycles = 200,
                             .require_fencing = true,
                             .require_semaphores = true,
                         }),
                         verrou::conformance::harness_name);

namespace {

#define REQUIRE_MYSQL()                                                   \
  do {                                                                    \
    if (auto why = mytest::unavailable()) VERROU_SKIP_OR_FAIL(*why);      \
  } while (false)

std::shared_ptr<verrou::DatabaseStore> store_on(const std::string& table, std::size_t pool = 4) {
  return std::dynamic_pointer_cast<verrou::DatabaseStore>(verrou::open_store(
      mytest::url() + "?table=" + table + "&pool_size=" + std::to_string(pool)));
}

TEST(Mysql, TableIsVerrousSchema) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("schema");
  auto store = store_on(table);
  EXPECT_EQ(mytest::query("SELECT GROUP_CONCAT(CONCAT(column_name, ' ', column_type, ' ', "
                          "is_nullable, ' ', column_key) ORDER BY ordinal_position SEPARATOR ', ') "
                          "FROM information_schema.columns WHERE table_schema = DATABASE() AND "
                          "table_name = '" + table + "'"),
            "key varchar(255) NO PRI, owner varchar(255) NO , expiration bigint(20) YES ");
  mytest::query("DROP TABLE " + table);
}

TEST(Mysql, ForeverIsNullAndRowsFromOtherWritersAreHonoured) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("rows");
  auto store = store_on(table);
  ASSERT_TRUE(store->save("forever", "me", verrou::forever));
  EXPECT_EQ(mytest::query("SELECT expiration IS NULL FROM " + table + " WHERE `key` = 'forever'"), "1");
  ASSERT_TRUE(store->save("timed", "me", 10s));
  EXPECT_EQ(mytest::query("SELECT expiration - CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) "
                          "BETWEEN 8000 AND 10000 FROM " + table + " WHERE `key` = 'timed'"),
            "1");
  mytest::query("INSERT INTO " + table + " VALUES ('old', 'node', 1000), ('held', 'node', NULL)");
  EXPECT_FALSE(store->exists("old"));
  EXPECT_TRUE(store->save("old", "me", 1s));
  EXPECT_TRUE(store->exists("held"));
  EXPECT_FALSE(store->save("held", "me", 1s));
  EXPECT_THROW(store->remove("held", "me"), verrou::LockNotOwnedError);
  store->force_remove("held");
  EXPECT_FALSE(store->exists("held"));
  mytest::query("DROP TABLE " + table);
}

TEST(Mysql, KeysCompareExactly) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("collation");
  auto store = store_on(table);
  ASSERT_TRUE(store->save("Invoice", "a", 10s));
  EXPECT_TRUE(store->save("invoice", "b", 10s));    // a case-insensitive collation would refuse
  EXPECT_TRUE(store->save("invoice ", "c", 10s));   // nor are trailing spaces ignored
  EXPECT_TRUE(store->save("caf\xc3\xa9", "d", 10s));
  EXPECT_TRUE(store->save("cafe", "e", 10s));
  EXPECT_TRUE(store->save("\xf0\x9f\x94\x92", "f", 10s));  // 4-byte UTF-8
  EXPECT_TRUE(store->exists("\xf0\x9f\x94\x92"));
  mytest::query("DROP TABLE " + table);
}

// Expiry is the server's decision: the lease written is the server's now + TTL, and an
// expired row is judged by the server's clock too.
TEST(Mysql, LeasesCountFromTheServersClock) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("clock");
  auto store = store_on(table);
  auto* adapter = dynamic_cast<verrou::MysqlAdapter*>(store->adapter().get());
  ASSERT_NE(adapter, nullptr);
  const auto server_now = adapter->database_now();
  ASSERT_TRUE(store->save("k", "a", 5s));
  auto row = adapter->get_lock("k");
  ASSERT_TRUE(row && row->expiration);
  EXPECT_GE(*row->expiration, server_now + 5000);
  EXPECT_LE(*row->expiration, server_now + 7000);
  // A row whose expiration is 10 s past the server's now stays held whatever a client thinks.
  mytest::query("INSERT INTO " + table + " VALUES ('skewed', 'other', " +
                std::to_string(server_now + 10'000) + ")");
  EXPECT_FALSE(store->save("skewed", "a", 1s));
  EXPECT_TRUE(store->exists("skewed"));
  mytest::query("DROP TABLE " + table);
}

TEST(Mysql, StoresStartingAtOnceAllCreateTheTable) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("race");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<int> holders{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto store = store_on(table, 1);
        ++ok;
        if (store->save("k", "t" + std::to_string(i), verrou::forever)) ++holders;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(holders, 1);
  mytest::query("DROP TABLE " + table);
}

TEST(Mysql, UrlOptionsAndErrors) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("url");
  auto u = mytest::url();
  auto store = verrou::open_store(u + "?table=" + table +
                                  "&pool_size=2&connect_timeout=3s&query_timeout=5s");
  EXPECT_TRUE(store->save("k", "o", 1s));
  EXPECT_NE(verrou::open_store("mariadb" + u.substr(u.find(':')) + "?table=" + table), nullptr);
  EXPECT_THROW(verrou::open_store(u + "?tabel=x"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store(u + "?query_timeout=0s"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store(u + "?table=x;y"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("mysql://u:p@127.0.0.1:3306"), verrou::InvalidArgumentError);
  mytest::query("DROP TABLE " + table);
}

TEST(Mysql, BadPasswordIsAStorageErrorNamingServerNotPassword) {
  REQUIRE_MYSQL();
  auto p = mytest::parts();
  try {
    verrou::open_store("mysql://verrou:wrong-secret-42@" + p.host + ":" + std::to_string(p.port) +
                       "/" + p.db);
    FAIL() << "expected LockStorageError";
  } catch (const verrou::LockStorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(p.host + ":" + std::to_string(p.port)), std::string::npos) << what;
    EXPECT_NE(what.find("connect"), std::string::npos) << what;
    EXPECT_EQ(what.find("wrong-secret-42"), std::string::npos) << what;
  }
}

TEST(Mysql, NoServerIsAStorageErrorWithinTheConnectTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(verrou::open_store("mysql://verrou:verrou@127.0.0.1:1/verrou?connect_timeout=2s"),
               verrou::LockStorageError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST(Mysql, UsesAnApplicationsConnection) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("borrowed");
  MYSQL* conn = mytest::connect();
  ASSERT_EQ(mysql_errno(conn), 0u);
  {
    auto store = verrou::make_mysql_store({.table_name = table, .connection = conn});
    ASSERT_TRUE(store->save("k", "me", 5s));
    EXPECT_TRUE(store->exists("k"));
    store->remove("k", "me");
  }
  EXPECT_EQ(mysql_ping(conn), 0);  // still open: the application closes it
  mysql_close(conn);
  EXPECT_EQ(mytest::query("SELECT COUNT(*) FROM " + table), "0");
  mytest::query("DROP TABLE " + table);
}

TEST(Mysql, ManyThreadsShareOneStore) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("threads");
  auto store = store_on(table, 3);
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const auto k = "k" + std::to_string(t);
        const auto me = "t" + std::to_string(t);
        if (store->save(k, me, 10s)) {
          store->extend(k, me, 10s);
          store->extend(k, me, 10s);  // same expiration again still counts as held
          store->remove(k, me);
          ++done;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done, 200);
  mytest::query("DROP TABLE " + table);
}

}  // namespace
