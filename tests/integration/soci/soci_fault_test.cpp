// SPDX-License-Identifier: Apache-2.0
// SOCI fault paths: a value the key column cannot hold, tables whose key column does not
// compare exactly, and sessions of the application's that do not autocommit.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include <verrou/drivers/soci.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>

#include "integration/soci/soci_helpers.hpp"
#if defined(VERROU_SOCI_HAVE_ODBC)
#include <soci/odbc/soci-odbc.h>
#endif

using namespace std::chrono_literals;

// verrou::testing brings the conformance suite; this program runs no store through it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

namespace {

#define REQUIRE_AVAILABLE(url, what)                                                  \
  do {                                                                                \
    if (auto why = socitest::unavailable(url, what)) VERROU_SKIP_OR_FAIL(*why);       \
  } while (false)

#if defined(VERROU_SOCI_HAVE_MYSQL)

std::unique_ptr<soci::session> mysql_session() {
  return std::make_unique<soci::session>(*soci::factory_mysql(), socitest::mysql_conn());
}

std::shared_ptr<verrou::DatabaseStore> soci_store(const std::string& url) {
  return std::dynamic_pointer_cast<verrou::DatabaseStore>(verrou::open_store(url));
}

// What a query on a session of the test's own returns ("" for no row or NULL).
std::string mysql_value(const std::string& sql) {
  auto s = mysql_session();
  std::string value;
  soci::indicator ind = soci::i_null;
  *s << sql, soci::into(value, ind);
  return ind == soci::i_ok ? value : std::string();
}

TEST(SociMysql, AValueTheColumnCannotHoldIsAnErrorNotAWrongKey) {
  REQUIRE_AVAILABLE(socitest::mysql_url(), "MySQL/MariaDB");
  // A table made by someone else in utf8mb3, which cannot hold 4-byte characters.
  const auto table = socitest::unique_table("mb3");
  *mysql_session() << "CREATE TABLE " + table +
                          " (`key` varchar(255) NOT NULL PRIMARY KEY, `owner` varchar(255) NOT "
                          "NULL, `expiration` bigint NULL) CHARACTER SET utf8mb3 COLLATE "
                          "utf8mb3_bin";
  auto store = soci_store(socitest::mysql_url("table=" + table));
  const std::string key = "a\xf0\x9f\x94\x92";  // "a🔒"
  EXPECT_THROW(store->save(key, "me", 30s), verrou::LockStorageError);
  EXPECT_THROW(store->adapter()->insert_lock(key, "me", 30s), verrou::LockStorageError)
      << "the insert turned the error into a warning";
  EXPECT_EQ(mysql_value("SELECT COUNT(*) FROM " + table), "0") << "a lock on a mangled key";
  EXPECT_FALSE(store->exists("a?"));
  EXPECT_TRUE(store->save("a?", "other", 30s));
  *mysql_session() << "DROP TABLE " + table;
  *mysql_session() << "DROP TABLE " + table + "_fencing";
}

TEST(SociMysql, CaseInsensitiveTableNeverActsOnAnotherKeysRow) {
  REQUIRE_AVAILABLE(socitest::mysql_url(), "MySQL/MariaDB");
  const auto table = socitest::unique_table("ci");
  *mysql_session() << "CREATE TABLE " + table +
                          " (`key` varchar(255) NOT NULL PRIMARY KEY, `owner` varchar(255) NOT "
                          "NULL, `expiration` bigint NULL) CHARACTER SET utf8mb4 COLLATE "
                          "utf8mb4_general_ci";
  auto store = soci_store(socitest::mysql_url("table=" + table));
  auto owner_of = [&](const std::string& key) {
    return mysql_value("SELECT `owner` FROM " + table + " WHERE CAST(`key` AS BINARY) = '" + key +
                       "'");
  };
  ASSERT_TRUE(store->save("Deploy", "a", 30s));
  EXPECT_FALSE(store->exists("deploy"));
  store->force_remove("deploy");
  EXPECT_EQ(owner_of("Deploy"), "a") << "force release of \"deploy\" freed \"Deploy\"";
  EXPECT_THROW(store->remove("deploy", "a"), verrou::LockNotOwnedError);
  EXPECT_THROW(store->extend("deploy", "a", 60s), verrou::LockNotOwnedError);
  EXPECT_FALSE(store->save("deploy", "b", 30s)) << "the two keys contend";
  EXPECT_EQ(owner_of("Deploy"), "a");
  ASSERT_TRUE(store->save("k", "a", 30s));
  store->force_remove("k ");
  EXPECT_TRUE(store->exists("k")) << "force release of \"k \" freed \"k\"";
  *mysql_session() << "DROP TABLE " + table;
  *mysql_session() << "DROP TABLE " + table + "_fencing";
}

TEST(SociMysql, WritesCommitOnASessionWithoutAutocommit) {
  REQUIRE_AVAILABLE(socitest::mysql_url(), "MySQL/MariaDB");
  const auto table = socitest::unique_table("noautocommit");
  auto observer = soci_store(socitest::mysql_url("table=" + table));
  auto app = mysql_session();
  *app << "SET autocommit = 0";
  auto store = verrou::make_soci_store(
      {.session = app.get(), .table_name = table, .auto_create_table = false});
  auto in_transaction = [&] {
    auto* backend = static_cast<soci::mysql_session_backend*>(app->get_backend());
    return (backend->conn_->server_status & SERVER_STATUS_IN_TRANS) != 0;
  };
  ASSERT_TRUE(store->save("k", "me", 30s));
  EXPECT_FALSE(in_transaction()) << "the store left its write uncommitted";
  EXPECT_TRUE(observer->exists("k")) << "another client does not see the lock";
  EXPECT_FALSE(observer->save("k", "them", 30s));
  store->extend("k", "me", 60s);
  EXPECT_FALSE(in_transaction());
  const auto token = dynamic_cast<verrou::FencingLockStore&>(*store).save_fenced("f", "me", 30s);
  ASSERT_TRUE(token.has_value());
  EXPECT_FALSE(in_transaction());
  EXPECT_TRUE(observer->exists("f"));
  store->remove("k", "me");
  EXPECT_FALSE(in_transaction());
  EXPECT_FALSE(observer->exists("k")) << "another client does not see the release";
  EXPECT_TRUE(observer->save("k", "them", 30s));
  EXPECT_TRUE(store->exists("k")) << "a read kept an old snapshot";
  *mysql_session() << "DROP TABLE " + table;
  *mysql_session() << "DROP TABLE " + table + "_fencing";
}

#endif

#if defined(VERROU_SOCI_HAVE_ODBC) && defined(VERROU_SOCI_HAVE_POSTGRESQL)
TEST(SociOdbc, WritesCommitOnASessionWithoutAutocommit) {
  REQUIRE_AVAILABLE(socitest::odbc_url(), "PostgreSQL over ODBC");
  const auto s = socitest::postgres();
  soci::session app(*soci::factory_odbc(),
                    "DRIVER={PostgreSQL Unicode};SERVER=" + s.host + ";PORT=" + std::to_string(s.port) +
                        ";DATABASE=" + s.db + ";UID=" + s.user + ";PWD=" + s.password + ";");
  const auto table = socitest::unique_table("odbc_noautocommit");
  // The tables first (SOCI's ODBC backend switches autocommit back on when a transaction ends).
  auto observer = std::dynamic_pointer_cast<verrou::DatabaseStore>(
      verrou::open_store(socitest::postgres_url("table=" + table)));
  auto* backend = static_cast<soci::odbc_session_backend*>(app.get_backend());
  ASSERT_TRUE(SQL_SUCCEEDED(SQLSetConnectAttr(backend->hdbc_, SQL_ATTR_AUTOCOMMIT,
                                              reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_OFF), 0)));
  auto autocommit_off = [&] {
    SQLULEN mode = SQL_AUTOCOMMIT_ON;
    SQLGetConnectAttr(backend->hdbc_, SQL_ATTR_AUTOCOMMIT, &mode, 0, nullptr);
    return mode == SQL_AUTOCOMMIT_OFF;
  };
  auto store = verrou::make_soci_store(
      {.session = &app, .table_name = table, .auto_create_table = false});
  ASSERT_TRUE(store->save("k", "me", 30s));
  EXPECT_TRUE(observer->exists("k")) << "another client does not see the lock";
  EXPECT_FALSE(observer->save("k", "them", 30s));
  store->remove("k", "me");
  EXPECT_FALSE(observer->exists("k")) << "another client does not see the release";
  EXPECT_TRUE(observer->save("k", "them", 30s));
  EXPECT_TRUE(store->exists("k")) << "a read kept an old snapshot";
  EXPECT_TRUE(autocommit_off()) << "the store switched the session's autocommit back on";
  observer->remove("k", "them");
  soci::session cleanup(*soci::factory_postgresql(), socitest::postgres_conn());
  cleanup << "DROP TABLE " + table;
  cleanup << "DROP TABLE " + table + "_fencing";
}
#endif

}  // namespace
