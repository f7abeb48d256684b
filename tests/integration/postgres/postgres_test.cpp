// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store: conformance, Verrou's schema, the server's clock, notifications.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <verrou/drivers/postgres.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>

#include "integration/postgres/pg_helpers.hpp"

using verrou::conformance::StoreConformance;
using namespace std::chrono_literals;

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(verrou::conformance::StoreHarness{
                             .name = "postgres",
                             .make_store = [] { return verrou::open_store(pgtest::url()); },
                             .unavailable = [] { return pgtest::unavailable(); },
                             .contention_cycles = 200,
                             .require_fencing = true,
                             .require_semaphores = true,
                         }),
                         verrou::conformance::harness_name);

namespace {

#define REQUIRE_PG()                                        \
  do {                                                      \
    if (auto why = pgtest::unavailable()) VERROU_SKIP_OR_FAIL(*why); \
  } while (false)

std::shared_ptr<verrou::DatabaseStore> store_on(const std::string& table,
                                                verrou::PostgresStoreOptions o = {}) {
  o.conninfo = pgtest::url();
  o.table_name = table;
  return verrou::make_postgres_store(std::move(o));
}

TEST(Postgres, TableIsVerrousSchema) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("schema");
  auto store = store_on(table);
  const std::string cols = pgtest::query(
      "SELECT string_agg(column_name || ' ' || data_type || coalesce('(' || "
      "character_maximum_length || ')', '') || ' ' || is_nullable, ', ' ORDER BY ordinal_position) "
      "FROM information_schema.columns WHERE table_name = '" + table + "'");
  EXPECT_EQ(cols,
            "key character varying(255) NO, owner character varying(255) NO, expiration bigint YES");
  EXPECT_EQ(pgtest::query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                          "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
                          "i.indisprimary AND i.indrelid = '" + table + "'::regclass"),
            "key");
  pgtest::query("DROP TABLE " + table);
}

TEST(Postgres, ForeverIsNullAndRowsFromOtherWritersAreHonoured) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("rows");
  auto store = store_on(table);
  ASSERT_TRUE(store->save("forever", "me", verrou::forever));
  EXPECT_EQ(pgtest::query("SELECT expiration IS NULL FROM " + table + " WHERE key = 'forever'"), "t");
  ASSERT_TRUE(store->save("timed", "me", 10s));
  EXPECT_EQ(pgtest::query("SELECT expiration - (extract(epoch from clock_timestamp())*1000)::bigint "
                          "BETWEEN 8000 AND 10000 FROM " + table + " WHERE key = 'timed'"),
            "t");
  pgtest::query("INSERT INTO " + table + " VALUES ('old', 'node', 1000), ('held', 'node', NULL)");
  EXPECT_FALSE(store->exists("old"));
  EXPECT_TRUE(store->save("old", "me", 1s));
  EXPECT_TRUE(store->exists("held"));
  EXPECT_FALSE(store->save("held", "me", 1s));
  EXPECT_THROW(store->remove("held", "me"), verrou::LockNotOwnedError);
  store->force_remove("held");
  EXPECT_FALSE(store->exists("held"));
  pgtest::query("DROP TABLE " + table);
}

// The feature: expiry is the server's decision. A client whose clock runs 10 s fast would,
// with client-computed expirations, see a 5 s lease as long expired and take the lock.
TEST(Postgres, AClientWithAFastClockCannotStealALiveLock) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("skew");
  auto honest = store_on(table);
  auto fast = store_on(table, {.clock = [] { return std::chrono::system_clock::now() + 10s; }});
  ASSERT_TRUE(honest->save("k", "honest", 5s));
  EXPECT_TRUE(fast->exists("k"));
  EXPECT_FALSE(fast->save("k", "fast", 5s));
  EXPECT_THROW(fast->extend("k", "fast", 5s), verrou::LockNotOwnedError);
  EXPECT_THROW(fast->remove("k", "fast"), verrou::LockNotOwnedError);
  // Waiting through the fast store does not take it either.
  auto* waitable = dynamic_cast<verrou::WaitableLockStore*>(fast.get());
  ASSERT_NE(waitable, nullptr);
  EXPECT_FALSE(waitable->save_waiting("k", "fast", 5s, std::chrono::steady_clock::now() + 300ms,
                                      std::chrono::steady_clock::now()));
  // And a lease written through the fast client is counted from the server's now.
  ASSERT_TRUE(fast->save("k2", "fast", 3s));
  EXPECT_EQ(pgtest::query("SELECT expiration - (extract(epoch from clock_timestamp())*1000)::bigint "
                          "BETWEEN 1000 AND 3000 FROM " + table + " WHERE key = 'k2'"),
            "t");
  EXPECT_TRUE(honest->exists("k"));
  pgtest::query("DROP TABLE " + table);
}

// Notifications received on `listener` within `wait`, payloads in order.
std::vector<std::string> notifications(PGconn* listener, std::size_t expected,
                                       std::chrono::milliseconds wait) {
  std::vector<std::string> got;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (got.size() < expected && std::chrono::steady_clock::now() < deadline) {
    PQconsumeInput(listener);
    while (PGnotify* n = PQnotifies(listener)) {
      got.emplace_back(n->extra);
      PQfreemem(n);
    }
    std::this_thread::sleep_for(10ms);
  }
  return got;
}

// NOTIFY costs the server much of its throughput (every notifying commit takes one global
// lock), so a release sends one only while a waiter has announced itself: here a session
// holding the shared advisory lock a waiter of that key holds.
TEST(Postgres, ReleaseNotifiesTheTablesChannelOnlyWhenSomeoneWaits) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("notify");
  auto store = store_on(table);
  auto& pg = dynamic_cast<verrou::PostgresStore&>(*store).postgres();
  PGconn* listener = PQconnectdb(pgtest::url().c_str());
  ASSERT_EQ(PQstatus(listener), CONNECTION_OK);
  PQclear(PQexec(listener, ("LISTEN \"" + pg.channel() + "\"").c_str()));
  // Nobody waits: releases and force releases send nothing.
  ASSERT_TRUE(store->save("a", "me", 10s));
  store->remove("a", "me");
  ASSERT_TRUE(store->save("b", "me", 10s));
  store->force_remove("b");
  EXPECT_EQ(notifications(listener, 1, 500ms), std::vector<std::string>{});

  PGconn* waiter = PQconnectdb(pgtest::url().c_str());
  ASSERT_EQ(PQstatus(waiter), CONNECTION_OK);
  const std::string cls = std::to_string(pg.waiter_lock_class());
  for (const char* key : {"a", "b"}) {
    PQclear(PQexec(waiter, ("SELECT pg_advisory_lock_shared(" + cls + ", hashtext('" + key +
                            "'))").c_str()));
  }
  ASSERT_TRUE(store->save("a", "me", 10s));
  store->remove("a", "me");
  ASSERT_TRUE(store->save("b", "me", 10s));
  store->force_remove("b");
  store->force_remove("never-held");  // deletes nothing: no notification
  ASSERT_TRUE(store->save("c", "me", 10s));
  store->remove("c", "me");  // nobody waits for c
  EXPECT_EQ(notifications(listener, 3, 2s), (std::vector<std::string>{"a", "b"}));
  PQfinish(waiter);
  PQfinish(listener);
  pgtest::query("DROP TABLE " + table);
}

TEST(Postgres, AWaiterTakesTheLockWhenItIsReleasedNotAfterItsRetryDelay) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("handoff");
  verrou::LockFactory locks(store_on(table));
  auto holder = locks.create_lock("k", 60s);
  ASSERT_TRUE(holder.acquire());
  std::atomic<bool> released{false};
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto lock = locks.create_lock("k", 60s);
    // A 20 s retry delay: only a notification can bring it in within the test's bound.
    got = lock.acquire({.retry = {.delay = 20s, .timeout = 30s}});
    EXPECT_TRUE(released.load());
    if (got) lock.release();
  });
  std::this_thread::sleep_for(300ms);
  released = true;
  const auto t0 = std::chrono::steady_clock::now();
  holder.release();
  waiter.join();
  EXPECT_TRUE(got);
  // Without a notification the waiter would look again only after 10 s (its fallback) or
  // 20 s (its retry delay).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  pgtest::query("DROP TABLE " + table);
}

TEST(Postgres, AWaiterTakesTheLockWhenItsLeaseRunsOut) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("expiry");
  verrou::LockFactory locks(store_on(table));
  auto holder = locks.create_lock("k", 500ms);
  ASSERT_TRUE(holder.acquire());
  auto waiter = locks.create_lock("k", 10s);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(waiter.acquire({.retry = {.delay = 20s, .timeout = 15s}}));
  // It slept until the lease's end by the server's clock, not its 10 s fallback.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_THROW(holder.release(), verrou::LockNotOwnedError);
  pgtest::query("DROP TABLE " + table);
}

// Plain CREATE TABLE IF NOT EXISTS fails in some of several sessions racing on a new table
// (a unique violation in the catalog); the adapter serializes creators.
TEST(Postgres, StoresStartingAtOnceAllCreateTheTable) {
  REQUIRE_PG();
  for (int round = 0; round < 5; ++round) {
    const auto table = pgtest::unique_table("race");
    constexpr int kStores = 8;
    std::vector<std::unique_ptr<verrou::PostgresAdapter>> adapters;
    for (int i = 0; i < kStores; ++i) {
      adapters.push_back(std::make_unique<verrou::PostgresAdapter>(
          verrou::PostgresStoreOptions{.conninfo = pgtest::url(), .pool_size = 1}));
      adapters.back()->set_table_name(table);
      adapters.back()->database_now();  // connected: only the CREATE is left to race
    }
    std::atomic<int> ready{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (auto& a : adapters) {
      threads.emplace_back([&, adapter = a.get()] {
        ++ready;
        while (ready.load() < kStores) std::this_thread::yield();
        try {
          adapter->create_table_if_not_exists();
        } catch (const std::exception& e) {
          ++failures;
          ADD_FAILURE() << e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures, 0);
    std::atomic<int> holders{0};
    for (int i = 0; i < kStores; ++i) {
      if (adapters[static_cast<std::size_t>(i)]->insert_lock("k", "t" + std::to_string(i),
                                                             std::nullopt)) {
        ++holders;
      }
    }
    EXPECT_EQ(holders, 1);
    pgtest::query("DROP TABLE " + table);
  }
}

TEST(Postgres, UrlOptionsAndErrors) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("url");
  auto u = pgtest::url();
  auto store = verrou::open_store(u + "?table=" + table +
                                  "&pool_size=2&connect_timeout=3s&query_timeout=5s&application_name=t");
  EXPECT_TRUE(store->save("k", "o", 1s));
  EXPECT_EQ(dynamic_cast<verrou::DatabaseStore&>(*store).table_name(), table);
  EXPECT_NE(verrou::open_store("postgresql" + u.substr(u.find(':')) + "?table=" + table), nullptr);
  EXPECT_THROW(verrou::open_store(u + "?tabel=x"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store(u + "?pool_size=x"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store(u + "?table=x-y"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("postgres:nothing"), verrou::InvalidArgumentError);
  pgtest::query("DROP TABLE " + table);
}

TEST(Postgres, BadPasswordIsAStorageErrorNamingServerNotPassword) {
  REQUIRE_PG();
  try {
    verrou::open_store("postgres://verrou:wrong-secret-42@127.0.0.1:5432/verrou");
    FAIL() << "expected LockStorageError";
  } catch (const verrou::LockStorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("127.0.0.1:5432"), std::string::npos) << what;
    EXPECT_NE(what.find("connect"), std::string::npos) << what;
    EXPECT_EQ(what.find("wrong-secret-42"), std::string::npos) << what;
  }
}

// libpq quotes pieces of a connection string it cannot parse (a value missing its '=', a
// whole URI) in its message; none of them, nor the string itself, may show the password.
TEST(Postgres, AConnectionStringThatDoesNotParseNeverShowsItsPassword) {
  const std::vector<std::string> bad = {
      "host=127.0.0.1 password=s3cret-pw-77 port",
      "host=127.0.0.1 password=s3cret pw-77 dbname=x",
      "host=127.0.0.1 password='s3cret-pw-77",
      "host=127.0.0.1 password = 's3cret \\' pw-77' nonsense",
      "password=s3cret-pw-77 sslpassword=pw-77-ssl host=h bogus_option=1",
      "host=h pasword=s3cret-pw-77",
      "host=h password=s3cret pw-77=x",
      "postgresql://me:s3cret-pw-77@[::1/db",
      "postgres://me:s3cret/pw-77@h:5432/db?%zz",
      "postgresql://me@h/db?password=s3cret-pw-77&x=%zz",
      "postgresql://me@h/db?password=s3cret&pw-77=1&bad",
  };
  for (const auto& conninfo : bad) {
    try {
      verrou::PostgresAdapter adapter({.conninfo = conninfo});
      ADD_FAILURE() << "expected InvalidArgumentError for a malformed connection string";
    } catch (const verrou::InvalidArgumentError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
      EXPECT_EQ(what.find("pw-77"), std::string::npos) << what;
      EXPECT_NE(what.find("invalid PostgreSQL connection string"), std::string::npos) << what;
    }
  }
  // What is not secret stays, so the message still helps.
  try {
    verrou::PostgresAdapter adapter({.conninfo = "host=db.example password=x bogus_option 1"});
    ADD_FAILURE() << "expected InvalidArgumentError";
  } catch (const verrou::InvalidArgumentError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("host=db.example"), std::string::npos) << what;
    EXPECT_NE(what.find("password=***"), std::string::npos) << what;
  }
  try {
    verrou::PostgresAdapter adapter({.conninfo = "host=db.example bogus_option=1"});
    ADD_FAILURE() << "expected InvalidArgumentError";
  } catch (const verrou::InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("\"bogus_option\""), std::string::npos) << e.what();
  }
}

// The same, for 20 000 malformed strings built from the pieces that trip parsers (quotes,
// backslashes, '@', '?', '&', percent signs, keywords, both URI schemes) around a password in
// each form it can take.
TEST(Postgres, NoMalformedConnectionStringShowsItsPassword) {
  const std::vector<std::string> pieces = {
      "password", "=", "'", "\\", " ", "postgres://", "postgresql://", "@", ":", "/", "?",
      "&", "%zz", "host", "x", "[", "]", "\"", "sslpassword", "dbname", "\t", "s3cret"};
  std::minstd_rand random(42);
  int refused = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string conninfo;
    for (auto n = random() % 12; n > 0; --n) conninfo += pieces[random() % pieces.size()];
    const std::string secret = "SECRET" + std::to_string(i) + "x";
    switch (random() % 5) {
      case 0: conninfo += " password=" + secret; break;
      case 1: conninfo += " password='" + secret + " more'"; break;
      case 2: conninfo = "postgresql://u:" + secret + "@" + conninfo; break;
      case 3: conninfo = "postgres://h/db?password=" + secret + conninfo; break;
      default: conninfo += "password = " + secret + conninfo; break;
    }
    try {
      verrou::PostgresAdapter adapter({.conninfo = conninfo});
    } catch (const verrou::InvalidArgumentError& e) {
      ++refused;
      ASSERT_EQ(std::string(e.what()).find(secret), std::string::npos)
          << "[" << conninfo << "] -> " << e.what();
    }
  }
  EXPECT_GT(refused, 10'000);  // most of them do not parse
}

TEST(Postgres, NoServerIsAStorageErrorWithinTheConnectTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  // Port 1 on loopback: nothing listens there.
  EXPECT_THROW(verrou::open_store("postgres://verrou:verrou@127.0.0.1:1/verrou?connect_timeout=2s"),
               verrou::LockStorageError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST(Postgres, UsesAnApplicationsConnection) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("borrowed");
  PGconn* conn = PQconnectdb(pgtest::url().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  {
    auto store = verrou::make_postgres_store({.table_name = table, .connection = conn});
    EXPECT_EQ(dynamic_cast<verrou::WaitableLockStore*>(store.get()), nullptr);
    ASSERT_TRUE(store->save("k", "me", 5s));
    EXPECT_TRUE(store->exists("k"));
    store->remove("k", "me");
  }
  EXPECT_EQ(PQstatus(conn), CONNECTION_OK);  // still open: the application closes it
  PGresult* r = PQexec(conn, ("SELECT count(*) FROM " + table).c_str());
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  PQfinish(conn);
  pgtest::query("DROP TABLE " + table);
}

TEST(Postgres, ManyThreadsShareOneStore) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("threads");
  auto store = store_on(table, {.pool_size = 3});
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const auto k = "k" + std::to_string(t);
        const auto me = "t" + std::to_string(t);
        if (store->save(k, me, 10s)) {
          store->extend(k, me, 10s);
          store->remove(k, me);
          ++done;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done, 200);
  pgtest::query("DROP TABLE " + table);
}

}  // namespace
