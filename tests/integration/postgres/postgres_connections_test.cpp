// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store's connections under faults, on the shared test server (only the
// test's own sessions are ever cancelled or terminated): the application's connection after
// a query timeout and under many threads, a listening connection cut mid-wait, how many
// connections waiting keys open, and hand-offs hammered against the release-notifies-only-
// waiters protocol.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
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
#include <verrou/testing/conformance.hpp>

#include "integration/postgres/pg_helpers.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// verrou::testing brings the conformance suite; this program runs no store through it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

namespace {

#define REQUIRE_PG()                                                  \
  do {                                                                \
    if (auto why = pgtest::unavailable()) VERROU_SKIP_OR_FAIL(*why); \
  } while (false)

// The test server's URL with a libpq setting added.
std::string url_with(const std::string& setting) {
  const auto u = pgtest::url();
  return u + (u.find('?') == std::string::npos ? "?" : "&") + setting;
}

// The sessions of one application_name (each store of these tests has its own).
int sessions_of(const std::string& app) {
  return std::stoi(pgtest::query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                                 app + "'"));
}

// A session of `app` holds a waiter's announcement (a shared advisory lock).
bool announced_by(const std::string& app) {
  return pgtest::query("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                       "WHERE a.application_name = '" + app + "' AND l.locktype = 'advisory' "
                       "AND l.mode = 'ShareLock' AND l.granted") != "0";
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within) {
  const auto end = Clock::now() + within;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A statement on the application's connection that outlives query_timeout (held up by another
// session's uncommitted row) is cancelled and its reply read: the connection stays usable,
// by the store and by the application, instead of being out of step for good.
TEST(PostgresConnections, TheApplicationsConnectionSurvivesAQueryTimeout) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("borrowed_timeout");
  PGconn* conn = PQconnectdb(pgtest::url().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  auto store = verrou::make_postgres_store(
      {.table_name = table, .query_timeout = 300ms, .connection = conn});
  ASSERT_TRUE(store->save("free", "me", 10s));  // table made, statements prepared

  PGconn* blocker = PQconnectdb(pgtest::url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN"));
  PQclear(PQexec(blocker, ("INSERT INTO " + table + " VALUES ('k', 'other', NULL)").c_str()));
  // The store's insert of k waits for the blocker's transaction, past query_timeout.
  try {
    store->save("k", "me", 10s);
    ADD_FAILURE() << "expected LockStorageError after query_timeout";
  } catch (const verrou::LockStorageError& e) {
    // Cancelled, so the caller knows it did not run (SQLSTATE 57014).
    EXPECT_NE(std::string(e.what()).find("57014"), std::string::npos) << e.what();
  }
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);

  EXPECT_TRUE(store->save("k", "me", 10s));
  EXPECT_TRUE(store->exists("k"));
  store->remove("k", "me");
  store->remove("free", "me");
  EXPECT_EQ(PQtransactionStatus(conn), PQTRANS_IDLE);
  PGresult* r = PQexec(conn, ("SELECT count(*) FROM " + table).c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    EXPECT_STREQ(PQgetvalue(r, 0, 0), "0");
  }
  PQclear(r);
  store.reset();
  PQfinish(conn);
  pgtest::query("DROP TABLE " + table);
}

// A PostgresStore made directly on the application's connection waits by polling: it never
// LISTENs there (the connection is the application's, and other threads run statements on it
// meanwhile), and threads take turns on it.
TEST(PostgresConnections, TheApplicationsConnectionIsNeverListenedOnAndServesOneThreadAtATime) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("borrowed_threads");
  PGconn* conn = PQconnectdb(pgtest::url().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  {
    auto store = std::make_shared<verrou::PostgresStore>(
        verrou::PostgresStoreOptions{.table_name = table, .connection = conn});
    verrou::LockFactory locks(store);
    std::atomic<int> done{0};
    std::atomic<int> inside{0};
    std::atomic<bool> overlap{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 15; ++i) {
          auto lock = locks.create_lock("k", 10s);
          try {
            if (!lock.acquire({.retry = {.delay = 20ms, .timeout = 30s}})) continue;
            if (inside.fetch_add(1) != 0) overlap = true;
            std::this_thread::sleep_for(1ms);
            inside.fetch_sub(1);
            lock.release();
            ++done;
          } catch (const std::exception& e) {
            ADD_FAILURE() << e.what();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(done, 60);
    EXPECT_FALSE(overlap);
  }
  PGresult* r = PQexec(conn, "SELECT count(*) FROM pg_listening_channels()");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  PQfinish(conn);
  pgtest::query("DROP TABLE " + table);
}

// Cutting every session of the waiting store (as a failover or a proxy restart does) replaces
// its listening connection: the waiter neither fails nor sleeps out its 30 s retry delay.
TEST(PostgresConnections, AWaiterOutlivesItsListeningConnection) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("listener_cut");
  const auto app = pgtest::unique_table("waiter_app");
  auto holder_store = verrou::make_postgres_store({.conninfo = pgtest::url(), .table_name = table});
  auto waiter_store = verrou::make_postgres_store(
      {.conninfo = url_with("application_name=" + app), .table_name = table});
  verrou::LockFactory holders(holder_store);
  verrou::LockFactory waiters(waiter_store);
  auto holder = holders.create_lock("k", 60s);
  ASSERT_TRUE(holder.acquire());

  std::atomic<int> outcome{0};  // 1 acquired, 2 not acquired, 3 threw
  std::string error;
  std::jthread waiter([&] {  // joins on the way out, should an assertion fail
    auto lock = waiters.create_lock("k", 60s);
    try {
      outcome = lock.acquire({.retry = {.delay = 30s, .timeout = 60s}}) ? 1 : 2;
      if (outcome == 1) lock.release();
    } catch (const std::exception& e) {
      error = e.what();
      outcome = 3;
    }
  });
  // Waiting: a statement session and the listening one are open, the key announced.
  EXPECT_TRUE(eventually([&] { return sessions_of(app) >= 2; }, 10s));
  EXPECT_TRUE(eventually([&] { return announced_by(app); }, 10s));
  std::this_thread::sleep_for(200ms);
  pgtest::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
                app + "'");
  // Announced again on a new connection.
  EXPECT_TRUE(eventually([&] { return announced_by(app); }, 10s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(outcome, 0) << error;
  const auto released = Clock::now();
  holder.release();
  waiter.join();
  EXPECT_EQ(outcome, 1) << error;
  EXPECT_LT(Clock::now() - released, 10s);
  pgtest::query("DROP TABLE " + table);
}

// Waiting for many keys at once costs one listening connection, not one each: a store opens
// at most pool_size + 1 connections.
TEST(PostgresConnections, WaitingKeysShareOneListeningConnection) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("bounded");
  const auto app = pgtest::unique_table("bounded_app");
  auto holder_store = verrou::make_postgres_store({.conninfo = pgtest::url(), .table_name = table});
  auto waiter_store = verrou::make_postgres_store(
      {.conninfo = url_with("application_name=" + app), .table_name = table, .pool_size = 2});
  verrou::LockFactory holders(holder_store);
  verrou::LockFactory waiters(waiter_store);
  constexpr int kKeys = 12;
  std::vector<verrou::Lock> held;
  for (int i = 0; i < kKeys; ++i) {
    held.push_back(holders.create_lock("k" + std::to_string(i), 60s));
    ASSERT_TRUE(held.back().acquire());
  }
  std::atomic<int> acquired{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kKeys; ++i) {
    threads.emplace_back([&, i] {
      auto lock = waiters.create_lock("k" + std::to_string(i), 60s);
      try {
        if (lock.acquire({.retry = {.delay = 30s, .timeout = 60s}})) {
          ++acquired;
          lock.release();
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
  }
  // Every key announced: the waiters are all waiting now.
  EXPECT_TRUE(eventually(
      [&] {
        return pgtest::query("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                             "WHERE a.application_name = '" + app +
                             "' AND l.locktype = 'advisory' AND l.mode = 'ShareLock'") ==
               std::to_string(kKeys);
      },
      10s));
  EXPECT_LE(sessions_of(app), 3);
  const auto released = Clock::now();
  for (auto& lock : held) lock.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(acquired, kKeys);
  EXPECT_LT(Clock::now() - released, 10s);
  EXPECT_LE(sessions_of(app), 3);
  pgtest::query("DROP TABLE " + table);
}

// The race the protocol must win: a waiter announcing itself while the holder releases. Six
// workers, each with a store of its own (six processes, as far as the stores know), walk
// through fresh keys together, so on every key five of them announce themselves just as the
// first one releases (after holding it 0-300 µs). None may sleep out its 3 s retry delay: a
// release that skipped its notification while a waiter was about to wait would strand it.
TEST(PostgresConnections, HammeredHandOffsNeverWaitOutTheirRetryDelay) {
  REQUIRE_PG();
  const auto table = pgtest::unique_table("hammer");
  constexpr int kStores = 6;  // one worker each: every hand-off goes through a notification
  constexpr int kThreadsPerStore = 1;
  constexpr int kKeys = 120;
  constexpr auto kDelay = 3s;
  std::vector<std::unique_ptr<verrou::LockFactory>> factories;
  for (int s = 0; s < kStores; ++s) {
    factories.push_back(std::make_unique<verrou::LockFactory>(
        verrou::make_postgres_store({.conninfo = pgtest::url(), .table_name = table})));
  }
  std::atomic<int> acquisitions{0};
  std::atomic<int> failures{0};
  std::atomic<std::int64_t> longest_us{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kStores; ++s) {
    for (int t = 0; t < kThreadsPerStore; ++t) {
      threads.emplace_back([&, s, t] {
        std::minstd_rand random(static_cast<unsigned>(s * 10 + t));
        for (int k = 0; k < kKeys; ++k) {
          auto lock = factories[static_cast<std::size_t>(s)]->create_lock("k" + std::to_string(k), 10s);
          try {
            const auto asked = Clock::now();
            if (!lock.acquire({.retry = {.delay = kDelay, .timeout = 60s}})) {
              ++failures;
              continue;
            }
            const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - asked);
            std::int64_t prev = longest_us.load();
            while (took.count() > prev && !longest_us.compare_exchange_weak(prev, took.count())) {
            }
            ++acquisitions;
            const auto hold = std::chrono::microseconds(random() % 300);
            if (hold.count() > 0) std::this_thread::sleep_for(hold);
            lock.release();
          } catch (const std::exception& e) {
            ++failures;
            ADD_FAILURE() << e.what();
          }
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(acquisitions, kStores * kThreadsPerStore * kKeys);
  EXPECT_LT(longest_us.load(), std::chrono::duration_cast<std::chrono::microseconds>(kDelay).count())
      << "an acquire slept out its retry delay: a release did not wake its waiter";
  std::cout << "longest acquire: " << longest_us.load() << " us over " << acquisitions.load()
            << " acquisitions\n";
  pgtest::query("DROP TABLE " + table);
}

}  // namespace
