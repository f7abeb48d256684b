// SPDX-License-Identifier: Apache-2.0
// The SOCI store: conformance through SOCI's sqlite3, postgresql and mysql backends and through
// its ODBC backend to PostgreSQL; Verrou's schema; the server's clock; the application's own
// pool and session; sharing locks with the native stores; options, URLs and errors.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <verrou/drivers/soci.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>
#if defined(VERROU_HAS_POSTGRES)
#include <verrou/drivers/postgres.hpp>
#endif
#if defined(VERROU_HAS_MYSQL)
#include <verrou/drivers/mysql.hpp>
#endif

#include "integration/soci/soci_helpers.hpp"

using verrou::conformance::StoreConformance;
using verrou::conformance::StoreHarness;
using namespace std::chrono_literals;

namespace {

std::string temp_db(const std::string& stem) {
  return (std::filesystem::temp_directory_path() /
          (stem + "-" + verrou::conformance::unique_suffix() + ".db"))
      .string();
}

// The conformance suite's SQLite file, one per test process.
const std::string& sqlite_file() {
  static const std::string path = temp_db("verrou-soci-conformance");
  return path;
}

#if defined(VERROU_SOCI_HAVE_SQLITE3)
// The application's own session: an in-memory SQLite database every store of the suite shares.
soci::session& app_sqlite_session() {
  static soci::session session(*soci::factory_sqlite3(), ":memory:");
  return session;
}
#endif

#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
// The application's own pool of PostgreSQL sessions (opened on first use).
std::shared_ptr<soci::connection_pool> app_postgres_pool() {
  static std::mutex mutex;
  static std::shared_ptr<soci::connection_pool> pool;
  std::lock_guard lock(mutex);
  if (!pool) {
    auto p = std::make_shared<soci::connection_pool>(3);
    for (std::size_t i = 0; i < 3; ++i) {
      p->at(i).open(*soci::factory_postgresql(), socitest::postgres_conn());
    }
    pool = p;
  }
  return pool;
}
#endif

std::vector<StoreHarness> harnesses() {
  std::vector<StoreHarness> out;
  out.push_back({
      .name = "soci_sqlite3_file",
      .make_store = [] { return verrou::open_store("soci://sqlite3/" + sqlite_file()); },
      .contention_cycles = 200,
      .require_fencing = true,
      .require_semaphores = true,
  });
#if defined(VERROU_SOCI_HAVE_SQLITE3)
  out.push_back({
      .name = "soci_sqlite3_app_session",
      .make_store = [] { return verrou::make_soci_store({.session = &app_sqlite_session()}); },
      .contention_cycles = 200,
      .require_fencing = true,
      .require_semaphores = true,
  });
#endif
  out.push_back({
      .name = "soci_postgresql",
      .make_store = [] { return verrou::open_store(socitest::postgres_url()); },
      .unavailable = [] { return socitest::unavailable(socitest::postgres_url(), "PostgreSQL"); },
      .contention_cycles = 200,
      .require_fencing = true,
      .require_semaphores = true,
  });
#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
  out.push_back({
      .name = "soci_postgresql_app_pool",
      .make_store = [] { return verrou::make_soci_store({.pool = app_postgres_pool()}); },
      .unavailable = [] { return socitest::unavailable(socitest::postgres_url(), "PostgreSQL"); },
      .contention_cycles = 200,
      .require_fencing = true,
      .require_semaphores = true,
  });
#endif
  out.push_back({
      .name = "soci_mysql",
      .make_store = [] { return verrou::open_store(socitest::mysql_url()); },
      .unavailable = [] { return socitest::unavailable(socitest::mysql_url(), "MySQL/MariaDB"); },
      .contention_cycles = 200,
      .require_fencing = true,
      .require_semaphores = true,
  });
  out.push_back({
      .name = "soci_odbc_postgresql",
      .make_store = [] { return verrou::open_store(socitest::odbc_url()); },
      .unavailable =
          [] { return socitest::unavailable(socitest::odbc_url(), "PostgreSQL over ODBC"); },
      .contention_cycles = 200,
      .require_fencing = true,
      .require_semaphores = true,
  });
  return out;
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Soci, StoreConformance, ::testing::ValuesIn(harnesses()),
                         verrou::conformance::harness_name);

namespace {

#define REQUIRE_AVAILABLE(url, what)                                       \
  do {                                                                     \
    if (auto why = socitest::unavailable(url, what)) VERROU_SKIP_OR_FAIL(*why); \
  } while (false)

verrou::SociAdapter& adapter_of(verrou::LockStore& store) {
  return dynamic_cast<verrou::SociAdapter&>(
      *dynamic_cast<verrou::DatabaseStore&>(store).adapter());
}

// The paths every server test runs through, with the SQL to read back the table.
struct Path {
  const char* name;
  std::string (*url)(const std::string&);
  const char* what;
};
const Path kPaths[] = {
    {"postgresql", &socitest::postgres_url, "PostgreSQL"},
    {"mysql", &socitest::mysql_url, "MySQL/MariaDB"},
    {"odbc", &socitest::odbc_url, "PostgreSQL over ODBC"},
};

class SociServer : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    if (auto why = socitest::unavailable(GetParam().url(""), GetParam().what)) {
      VERROU_SKIP_OR_FAIL(*why);
    }
  }
  std::string url(const std::string& query = "") const { return GetParam().url(query); }
};

TEST_P(SociServer, ExpiryIsCountedFromTheServersClock) {
  const auto table = socitest::unique_table("clock");
  auto store = verrou::open_store(url("table=" + table));
  auto& adapter = adapter_of(*store);
  ASSERT_TRUE(store->save("forever", "me", verrou::forever));
  auto row = adapter.get_lock("forever");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->owner, "me");
  EXPECT_FALSE(row->expiration.has_value());
  EXPECT_FALSE(row->expired);
  const auto before = adapter.database_now();
  ASSERT_TRUE(store->save("timed", "me", 10s));
  const auto after = adapter.database_now();
  row = adapter.get_lock("timed");
  ASSERT_TRUE(row && row->expiration);
  EXPECT_GE(*row->expiration, before + 10'000);
  EXPECT_LE(*row->expiration, after + 10'000);
  // The server's clock is the real time (give or take the machine's own skew).
  const auto local = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  EXPECT_LT(std::abs(before - local), 60'000);
  store->force_remove("forever");
  store->force_remove("timed");
}

TEST_P(SociServer, RowsWrittenByOthersAreHonoured) {
  const auto table = socitest::unique_table("rows");
  auto store = verrou::open_store(url("table=" + table));
  auto& adapter = adapter_of(*store);
  // Another writer's rows, as Verrou for Node.js leaves them: one long expired, one forever.
  ASSERT_TRUE(adapter.insert_lock("old", "node", 1ms));
  ASSERT_TRUE(adapter.insert_lock("held", "node", std::nullopt));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(store->exists("old"));
  EXPECT_TRUE(store->save("old", "me", 1s));
  EXPECT_TRUE(store->exists("held"));
  EXPECT_FALSE(store->save("held", "me", 1s));
  EXPECT_THROW(store->remove("held", "me"), verrou::LockNotOwnedError);
  EXPECT_THROW(store->extend("held", "me", 1s), verrou::LockNotOwnedError);
  store->force_remove("held");
  EXPECT_FALSE(store->exists("held"));
  store->remove("old", "me");
}

TEST_P(SociServer, RepeatedExtendsByTheOwnerAllSucceed) {
  // MySQL counts changed rows unless found rows are asked for: an extend landing on the
  // expiration already written must still count as done.
  auto store = verrou::open_store(url());
  const auto key = "verrou-soci-extend:" + verrou::conformance::unique_suffix();
  ASSERT_TRUE(store->save(key, "me", 30s));
  for (int i = 0; i < 50; ++i) ASSERT_NO_THROW(store->extend(key, "me", 30s)) << i;
  store->remove(key, "me");
}

TEST_P(SociServer, KeysUpTo255BytesAndTablesWithCapitalsWork) {
  const auto table = "Verrou_Mixed_" + socitest::unique_table("t");
  auto store = verrou::open_store(url("table=" + table));
  const std::string longest(255, 'k');
  ASSERT_TRUE(store->save(longest, "me", 10s));
  EXPECT_TRUE(store->exists(longest));
  store->remove(longest, "me");
  EXPECT_THROW(store->save(std::string(256, 'k'), "me", 10s), verrou::InvalidArgumentError);
  // Case matters in keys: "K" and "k" are two locks.
  ASSERT_TRUE(store->save("k", "a", 10s));
  EXPECT_TRUE(store->save("K", "b", 10s));
  EXPECT_TRUE(store->save("k ", "c", 10s));
  store->force_remove("k");
  store->force_remove("K");
  store->force_remove("k ");
}

TEST_P(SociServer, StoresStartingAtOnceAllCreateTheTable) {
  const auto table = socitest::unique_table("race");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<int> holders{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto store = verrou::open_store(url("table=" + table + "&pool_size=1"));
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
}

TEST_P(SociServer, AWrongPasswordIsReportedWithoutShowingIt) {
  std::string bad = url();
  const auto colon = bad.find(':', std::string("soci://").size());
  const auto at = bad.find('@');
  ASSERT_NE(colon, std::string::npos);
  bad = bad.substr(0, colon + 1) + "Wr0ngSecretPw" + bad.substr(at);
  try {
    verrou::open_store(bad);
    FAIL() << "a wrong password was accepted";
  } catch (const verrou::LockStorageError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("Wr0ngSecretPw"), std::string::npos) << what;
    EXPECT_NE(what.find("connect"), std::string::npos) << what;
  }
  EXPECT_EQ(verrou::redact_url(bad).find("Wr0ngSecretPw"), std::string::npos);
}

TEST_P(SociServer, ANewPoolWaitsForAFreeSessionAndNeverDeadlocks) {
  // One session, eight threads: each waits its turn.
  auto store = verrou::open_store(url("pool_size=1"));
  const auto key = "verrou-soci-pool:" + verrou::conformance::unique_suffix();
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const std::string k = key + ":" + std::to_string(t);
      for (int i = 0; i < 10; ++i) {
        if (store->save(k, "me", 10s)) {
          store->remove(k, "me");
          ++done;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done, 80);
}

INSTANTIATE_TEST_SUITE_P(Soci, SociServer, ::testing::ValuesIn(kPaths),
                         [](const ::testing::TestParamInfo<Path>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(SociOdbc, TheDialectIsReadFromTheDriver) {
  REQUIRE_AVAILABLE(socitest::odbc_url(), "PostgreSQL over ODBC");
  auto store = verrou::open_store(socitest::odbc_url());
  EXPECT_EQ(adapter_of(*store).dialect(), verrou::SociDialect::postgresql);
  auto given = verrou::open_store(socitest::odbc_url("dialect=postgresql"));
  EXPECT_EQ(adapter_of(*given).dialect(), verrou::SociDialect::postgresql);
}

TEST(SociSqlite, TableIsVerrousSchema) {
  const auto path = temp_db("verrou-soci-schema");
  auto store = verrou::open_store("soci://sqlite3/" + path + "?table=locks");
  ASSERT_TRUE(store->save("k", "me", verrou::forever));
  EXPECT_EQ(adapter_of(*store).dialect(), verrou::SociDialect::sqlite);
#if defined(VERROU_SOCI_HAVE_SQLITE3)
  soci::session s(*soci::factory_sqlite3(), path);
  std::string sql;
  s << "SELECT sql FROM sqlite_master WHERE name = 'locks'", soci::into(sql);
  EXPECT_EQ(sql,
            "CREATE TABLE \"locks\" (\"key\" varchar(255) NOT NULL PRIMARY KEY, \"owner\" "
            "varchar(255) NOT NULL, \"expiration\" bigint NULL)");
  soci::indicator ind = soci::i_ok;
  long long expiration = 0;
  s << "SELECT expiration FROM locks WHERE key = 'k'", soci::into(expiration, ind);
  EXPECT_EQ(ind, soci::i_null);
#endif
  store.reset();
  std::filesystem::remove(path);
}

TEST(SociSqlite, ManyStoresOnOneFileShareLocks) {
  const auto path = temp_db("verrou-soci-share");
  auto a = verrou::open_store("soci://sqlite3/db=" + path + "%20timeout=5");
  auto b = verrou::make_soci_store({.backend = "sqlite3", .connection_string = path});
  ASSERT_TRUE(a->save("k", "a", 10s));
  EXPECT_FALSE(b->save("k", "b", 10s));
  EXPECT_TRUE(b->exists("k"));
  EXPECT_THROW(b->remove("k", "b"), verrou::LockNotOwnedError);
  a->remove("k", "a");
  EXPECT_TRUE(b->save("k", "b", 10s));
  a.reset();
  b.reset();
  std::filesystem::remove(path);
}

#if defined(VERROU_HAS_POSTGRES)
// The SOCI store and the native PostgreSQL store share a table: one lock, and a release
// through SOCI wakes the native store's waiter (SOCI's release announces it the same way).
TEST(SociPostgres, SharesLocksWithTheNativeStoreAndWakesItsWaiters) {
  REQUIRE_AVAILABLE(socitest::postgres_url(), "PostgreSQL");
  const auto table = socitest::unique_table("native");
  const auto s = socitest::postgres();
  auto native = verrou::make_postgres_store(
      {.conninfo = "postgres://" + s.user + ":" + s.password + "@" + s.host + ":" +
                   std::to_string(s.port) + "/" + s.db,
       .table_name = table});
  for (auto* url : {&socitest::postgres_url, &socitest::odbc_url}) {
    auto soci = verrou::open_store((*url)("table=" + table));
    ASSERT_TRUE(soci->save("k", "soci", 60s));
    EXPECT_TRUE(native->exists("k"));
    EXPECT_FALSE(native->save("k", "native", 60s));
    verrou::LockFactory locks(native);
    std::atomic<bool> got{false};
    std::thread waiter([&] {
      auto lock = locks.create_lock("k", 60s);
      // A 20 s retry delay: only the notification brings it in within the bound below.
      got = lock.acquire({.retry = {.delay = 20s, .timeout = 30s}});
      if (got) lock.release();
    });
    std::this_thread::sleep_for(300ms);
    const auto t0 = std::chrono::steady_clock::now();
    soci->remove("k", "soci");
    waiter.join();
    EXPECT_TRUE(got);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  }
}
#endif

// The application's sessions are left as they were: one-time queries, no prepared
// statement, nothing set. (The store's own sessions prepare theirs once.)
TEST(SociPostgres, LeavesNoPreparedStatementOnTheApplicationsSessions) {
  REQUIRE_AVAILABLE(socitest::postgres_url(), "PostgreSQL");
  soci::session app(*soci::factory_postgresql(), socitest::postgres_conn());
  auto store = verrou::make_soci_store({.session = &app});
  const auto key = "verrou-soci-app:" + verrou::conformance::unique_suffix();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->save(key, "me", 10s));
    store->extend(key, "me", 10s);
    EXPECT_TRUE(store->exists(key));
    store->remove(key, "me");
  }
  long long prepared = -1;
  app << "SELECT count(*) FROM pg_prepared_statements", soci::into(prepared);
  EXPECT_EQ(prepared, 0);
  std::string messages;
  app << "SHOW client_min_messages", soci::into(messages);
  EXPECT_EQ(messages, "notice");
}

// libpq also takes a URI as its connection string; the store keeps it working (its default
// connect timeout goes into the URI's query) and never shows its password.
TEST(SociPostgres, AcceptsLibpqUriConnectionStrings) {
  REQUIRE_AVAILABLE(socitest::postgres_url(), "PostgreSQL");
  const auto s = socitest::postgres();
  const auto uri = "postgresql://" + s.user + ":" + s.password + "@" + s.host + ":" +
                   std::to_string(s.port) + "/" + s.db;
  auto store = verrou::make_soci_store({.backend = "postgresql", .connection_string = uri});
  const auto key = "verrou-soci-uri:" + verrou::conformance::unique_suffix();
  ASSERT_TRUE(store->save(key, "me", 10s));
  store->remove(key, "me");
  EXPECT_EQ(adapter_of(*store).server(), "postgresql " + s.host + ":" + std::to_string(s.port));
  try {
    verrou::make_soci_store({.backend = "postgresql",
                             .connection_string = "postgresql://" + s.user +
                                                  ":Wr0ngUriSecret@" + s.host + ":" +
                                                  std::to_string(s.port) + "/" + s.db});
    FAIL() << "a wrong password was accepted";
  } catch (const verrou::LockStorageError& e) {
    EXPECT_EQ(std::string(e.what()).find("Wr0ngUriSecret"), std::string::npos) << e.what();
  }
}

#if defined(VERROU_HAS_MYSQL)
TEST(SociMysql, SharesLocksWithTheNativeStore) {
  REQUIRE_AVAILABLE(socitest::mysql_url(), "MySQL/MariaDB");
  const auto table = socitest::unique_table("native");
  const auto s = socitest::mysql();
  auto soci = verrou::open_store(socitest::mysql_url("table=" + table));
  auto native = verrou::make_mysql_store({.host = s.host,
                                          .port = s.port,
                                          .user = s.user,
                                          .password = s.password,
                                          .database = s.db,
                                          .table_name = table});
  ASSERT_TRUE(native->save("k", "native", 60s));
  EXPECT_TRUE(soci->exists("k"));
  EXPECT_FALSE(soci->save("k", "soci", 60s));
  native->remove("k", "native");
  EXPECT_TRUE(soci->save("k", "soci", 60s));
  EXPECT_FALSE(native->save("k", "native", 60s));
  soci->remove("k", "soci");
}
#endif

#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
// A session whose connection the server dropped is replaced (own pool) or reconnected (the
// application's pool), so the store works again without the application's help.
TEST(SociPostgres, RecoversWhenTheServerDropsItsConnections) {
  REQUIRE_AVAILABLE(socitest::postgres_url(), "PostgreSQL");
  const auto own_app = "verrou_soci_" + socitest::unique_table("own");
  const auto pool_app = "verrou_soci_" + socitest::unique_table("pool");
  auto own = verrou::open_store(socitest::postgres_url() + "%20application_name=" + own_app);
  auto pool = std::make_shared<soci::connection_pool>(2);
  for (std::size_t i = 0; i < 2; ++i) {
    pool->at(i).open(*soci::factory_postgresql(),
                     socitest::postgres_conn() + " application_name=" + pool_app);
  }
  auto borrowed = verrou::make_soci_store({.pool = pool});
  for (const auto& [store, app] :
       {std::pair<verrou::LockStore*, std::string>{own.get(), own_app},
        std::pair<verrou::LockStore*, std::string>{borrowed.get(), pool_app}}) {
    const auto key = "verrou-soci-drop:" + verrou::conformance::unique_suffix();
    ASSERT_TRUE(store->save(key, "me", 10s));
    {
      soci::session admin(*soci::factory_postgresql(), socitest::postgres_conn());
      admin << "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
               "application_name = '" + app + "'";
    }
    std::this_thread::sleep_for(300ms);  // the server closes the sockets
    if (store == own.get()) {
      // The store's own idle sessions are checked before use: no call fails.
      EXPECT_TRUE(store->exists(key));
    }
    // The application's sessions are reconnected after their first failure (reported, never
    // hung); then it works.
    bool worked = false;
    for (int i = 0; i < 6 && !worked; ++i) {
      try {
        worked = store->exists(key);
      } catch (const verrou::LockStorageError& e) {
        EXPECT_NE(std::string(e.what()).find("read lock"), std::string::npos) << e.what();
      }
    }
    EXPECT_TRUE(worked);
    store->remove(key, "me");
  }
}
#endif

TEST(SociOptions, BadOptionsAreRefusedWithWhatIsValid) {
  using verrou::InvalidArgumentError;
  using verrou::SociStoreOptions;
  EXPECT_THROW(verrou::SociAdapter(SociStoreOptions{}), InvalidArgumentError);
  EXPECT_THROW(verrou::SociAdapter({.connection_string = "db=x.db"}), InvalidArgumentError);
  EXPECT_THROW(verrou::SociAdapter({.backend = "sqlite3", .connection_string = "x", .pool_size = 0}),
               InvalidArgumentError);
  EXPECT_THROW(verrou::SociAdapter({.backend = "sqlite3", .connection_string = "x",
                                    .wait_timeout = verrou::Duration::zero()}),
               InvalidArgumentError);
#if defined(VERROU_SOCI_HAVE_SQLITE3)
  EXPECT_THROW(verrou::SociAdapter({.backend = "sqlite3",
                                    .connection_string = "x",
                                    .session = &app_sqlite_session()}),
               InvalidArgumentError);
#endif
  EXPECT_THROW(verrou::make_soci_store({.backend = "sqlite3",
                                        .connection_string = ":memory:",
                                        .table_name = "bad-name"}),
               InvalidArgumentError);
  try {
    verrou::SociAdapter(SociStoreOptions{});
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("exactly one of"), std::string::npos) << e.what();
  }
}

TEST(SociOptions, DialectNames) {
  using verrou::SociDialect;
  for (auto d : {SociDialect::automatic, SociDialect::sqlite, SociDialect::postgresql,
                 SociDialect::mysql, SociDialect::sql_server, SociDialect::oracle,
                 SociDialect::firebird}) {
    EXPECT_EQ(verrou::parse_soci_dialect(verrou::to_string(d)), d);
  }
  EXPECT_EQ(verrou::parse_soci_dialect("MSSQL"), SociDialect::sql_server);
  EXPECT_EQ(verrou::parse_soci_dialect("mariadb"), SociDialect::mysql);
  EXPECT_THROW(verrou::parse_soci_dialect("db2"), verrou::InvalidArgumentError);
}

TEST(SociUrl, MalformedUrlsAreRefusedClearly) {
  using verrou::InvalidArgumentError;
  EXPECT_THROW(verrou::open_store("soci://postgresql"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://postgresql/"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://sqlite3:5/x.db"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci:sqlite3"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://sqlite3/:memory:?tabel=x"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://sqlite3/:memory:?dialect=db2"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://sqlite3/:memory:?pool_size=0"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://me:pw@sqlite3/:memory:"), InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("soci://sqlite3/:memory:?table=a;b"), InvalidArgumentError);
  // A backend whose SQL verrou-cpp does not know needs the dialect, and says so.
  try {
    verrou::open_store("soci://db2/DSN=x");
    FAIL() << "a backend without a dialect was accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("dialect"), std::string::npos) << e.what();
  }
  // Given one, the store tries to connect, and a backend SOCI cannot load is a storage error
  // naming it.
  try {
    verrou::open_store("soci://nosuchbackend/x?dialect=postgresql");
    FAIL() << "an unknown backend connected";
  } catch (const verrou::LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("nosuchbackend"), std::string::npos) << e.what();
  }
}

TEST(SociUrl, InMemoryDatabaseKeepsOneSession) {
  // Every in-memory SQLite connection is a database of its own: the store must not spread
  // its locks over several.
  auto store = verrou::open_store("soci://sqlite3/:memory:?pool_size=8");
  std::vector<std::thread> threads;
  std::atomic<int> holders{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (store->save("k", "t" + std::to_string(i), verrou::forever)) ++holders;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(holders, 1);
}

}  // namespace
