// SPDX-License-Identifier: Apache-2.0
// MySQL/MariaDB fault paths: tables whose key column does not compare exactly (made by
// @verrou/core's knex store, or by an operator), and a connection the application lends.
#include <gtest/gtest.h>
#include <mysql.h>

#include <chrono>
#include <memory>
#include <string>

#include <verrou/drivers/mysql.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>

#include "integration/mysql/mysql_helpers.hpp"

using namespace std::chrono_literals;

// verrou::testing brings the conformance suite; this program runs no store through it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

namespace {

#define REQUIRE_MYSQL()                                              \
  do {                                                               \
    if (auto why = mytest::unavailable()) VERROU_SKIP_OR_FAIL(*why); \
  } while (false)

// A lock table created by someone else, with the given character set and collation (as
// Verrou's knex store does with the database's defaults, e.g. latin1_swedish_ci here,
// utf8mb4_general_ci on MariaDB's own defaults, utf8mb4_0900_ai_ci on MySQL 8).
std::string foreign_table(const std::string& stem, const std::string& charset,
                          const std::string& collation) {
  const auto table = mytest::unique_table(stem);
  const auto error = mytest::query(
      "CREATE TABLE " + table +
      " (`key` varchar(255) NOT NULL PRIMARY KEY, `owner` varchar(255) NOT NULL, `expiration` "
      "bigint unsigned NULL) CHARACTER SET " + charset + " COLLATE " + collation);
  EXPECT_EQ(error, "") << error;
  return table;
}

std::shared_ptr<verrou::DatabaseStore> store_on(const std::string& table,
                                                const std::string& options = "") {
  return std::dynamic_pointer_cast<verrou::DatabaseStore>(
      verrou::open_store(mytest::url() + "?table=" + table + options));
}

std::string owner_of(const std::string& table, const std::string& key) {
  return mytest::query("SELECT `owner` FROM " + table + " WHERE CAST(`key` AS BINARY) = '" + key +
                       "'");
}

// No operation acts on the row of another key that only compares equal: not a release, a force
// release, an extension or a status; the two keys contend (documented), neither is taken over.
void keys_stay_apart(verrou::DatabaseStore& store, const std::string& table) {
  ASSERT_TRUE(store.save("Deploy", "a", 30s));
  EXPECT_FALSE(store.exists("deploy")) << "status of \"deploy\" reported \"Deploy\"'s lock";
  store.force_remove("deploy");
  EXPECT_EQ(owner_of(table, "Deploy"), "a") << "force release of \"deploy\" freed \"Deploy\"";
  EXPECT_THROW(store.remove("deploy", "a"), verrou::LockNotOwnedError);
  EXPECT_EQ(owner_of(table, "Deploy"), "a") << "release of \"deploy\" freed \"Deploy\"";
  EXPECT_THROW(store.extend("deploy", "a", 60s), verrou::LockNotOwnedError);
  EXPECT_FALSE(store.save("deploy", "b", 30s)) << "on such a table the two keys contend";
  EXPECT_FALSE(store.save_fenced("deploy", "b", 30s).has_value());
  EXPECT_EQ(owner_of(table, "Deploy"), "a");
  EXPECT_TRUE(store.exists("Deploy"));
  store.remove("Deploy", "a");

  // Trailing spaces (PAD SPACE collations ignore them).
  ASSERT_TRUE(store.save("k", "a", 30s));
  EXPECT_FALSE(store.exists("k "));
  store.force_remove("k ");
  EXPECT_TRUE(store.exists("k")) << "force release of \"k \" freed \"k\"";
  EXPECT_THROW(store.remove("k ", "a"), verrou::LockNotOwnedError);
  EXPECT_TRUE(store.exists("k"));
  store.remove("k", "a");

  // An expired row of the other key is not taken over either: that would rename nothing and
  // hand "Expired"'s row to "expired"'s owner.
  mytest::query("INSERT INTO " + table + " VALUES ('Expired', 'node', 1000)");
  EXPECT_FALSE(store.save("expired", "b", 30s));
  EXPECT_EQ(owner_of(table, "Expired"), "node");
}

TEST(MysqlCollation, CaseInsensitiveTableNeverActsOnAnotherKeysRow) {
  REQUIRE_MYSQL();
  const auto table = foreign_table("ci", "utf8mb4", "utf8mb4_general_ci");
  keys_stay_apart(*store_on(table), table);
  keys_stay_apart(*store_on(table, "&prepared_statements=false"), table);
  mytest::query("DROP TABLE " + table);
  mytest::query("DROP TABLE " + table + "_fencing");
}

TEST(MysqlCollation, Latin1TableOfVerrousKnexStoreNeverActsOnAnotherKeysRow) {
  REQUIRE_MYSQL();
  const auto table = foreign_table("latin1", "latin1", "latin1_swedish_ci");
  keys_stay_apart(*store_on(table), table);
  // A key the column cannot hold is an error, never a lock on a mangled key.
  auto store = store_on(table);
  EXPECT_THROW(store->save("lock-\xf0\x9f\x94\x92", "a", 30s), verrou::LockStorageError);
  EXPECT_EQ(mytest::query("SELECT COUNT(*) FROM " + table + " WHERE `key` LIKE 'lock-%'"), "0");
  mytest::query("DROP TABLE " + table);
  mytest::query("DROP TABLE " + table + "_fencing");
}

TEST(MysqlCollation, PadSpaceBinaryTableNeverActsOnAnotherKeysRow) {
  REQUIRE_MYSQL();
  // utf8mb4_bin pads: "k" and "k " are one value to it (MySQL 5.7's only binary collation).
  const auto table = foreign_table("padbin", "utf8mb4", "utf8mb4_bin");
  auto store = store_on(table);
  ASSERT_TRUE(store->save("k", "a", 30s));
  store->force_remove("k ");
  EXPECT_TRUE(store->exists("k"));
  EXPECT_FALSE(store->exists("k "));
  EXPECT_FALSE(store->save("k ", "b", 30s));
  store->remove("k", "a");
  mytest::query("DROP TABLE " + table);
  mytest::query("DROP TABLE " + table + "_fencing");
}

TEST(MysqlCollation, TablesTheStoreCreatesCompareExactly) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("own");
  auto store = store_on(table);
  const auto collation =
      mytest::query("SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                    "DATABASE() AND TABLE_NAME = '" + table + "' AND COLUMN_NAME = 'key'");
  const std::string version = mytest::query("SELECT VERSION()");
  EXPECT_EQ(collation, version.find("MariaDB") != std::string::npos ? "utf8mb4_nopad_bin"
                                                                     : "utf8mb4_0900_bin");
  ASSERT_TRUE(store->save("Deploy", "a", 30s));
  EXPECT_TRUE(store->save("deploy", "b", 30s));
  EXPECT_TRUE(store->save("deploy ", "c", 30s));
  mytest::query("DROP TABLE " + table);
  mytest::query("DROP TABLE " + table + "_fencing");
}

// A connection the application lends: no CLIENT_FOUND_ROWS, a session time zone of its own, and
// a frozen clock (SET timestamp), so two extensions write the same expiration.
TEST(MysqlBorrowedConnection, SameMillisecondExtendCountsAndTheSessionIsLeftAlone) {
  REQUIRE_MYSQL();
  const auto table = mytest::unique_table("lent");
  MYSQL* conn = mytest::connect();
  ASSERT_EQ(mysql_errno(conn), 0U);
  ASSERT_EQ((conn->client_flag & CLIENT_FOUND_ROWS), 0UL);
  const std::string setup = "SET time_zone = '+05:00'";
  ASSERT_EQ(mysql_real_query(conn, setup.data(), setup.size()), 0);
  const std::string freeze = "SET timestamp = UNIX_TIMESTAMP()";
  ASSERT_EQ(mysql_real_query(conn, freeze.data(), freeze.size()), 0);
  {
    auto store = verrou::make_mysql_store({.table_name = table, .connection = conn});
    ASSERT_TRUE(store->save("k", "me", 60s));
    EXPECT_NO_THROW(store->extend("k", "me", 60s));
    EXPECT_NO_THROW(store->extend("k", "me", 60s)) << "an extension writing the expiration "
                                                      "already there was refused";
    EXPECT_THROW(store->extend("k", "someone", 60s), verrou::LockNotOwnedError);
    // The lease counts from the server's clock in UTC, whatever the session's time zone.
    auto* adapter = dynamic_cast<verrou::MysqlAdapter*>(store->adapter().get());
    const auto row = adapter->get_lock("k");
    ASSERT_TRUE(row && row->expiration);
    const auto utc_now_ms = std::stoll(mytest::query(
        "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) DIV 1000"));
    EXPECT_NEAR(static_cast<double>(*row->expiration - utc_now_ms), 60'000.0, 30'000.0);
    const auto token = store->save_fenced("other", "me", 60s);
    EXPECT_TRUE(token.has_value()) << "acquisitions work without CLIENT_MULTI_STATEMENTS";
    EXPECT_FALSE(store->save_fenced("other", "them", 60s).has_value());
    store->remove("k", "me");
  }
  MYSQL_RES* r = nullptr;
  const std::string ask = "SELECT @@session.time_zone";
  ASSERT_EQ(mysql_real_query(conn, ask.data(), ask.size()), 0);
  r = mysql_store_result(conn);
  MYSQL_ROW row = mysql_fetch_row(r);
  ASSERT_NE(row, nullptr);
  EXPECT_STREQ(row[0], "+05:00") << "the store changed the session's time zone";
  mysql_free_result(r);
  EXPECT_EQ(conn->server_status & SERVER_STATUS_IN_TRANS, 0U) << "a transaction was left open";
  mysql_close(conn);
  mytest::query("DROP TABLE " + table);
  mytest::query("DROP TABLE " + table + "_fencing");
}

}  // namespace
