// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store against a private server (tests/integration/postgres/pg_private_server.hpp)
// for what the shared one must not suffer: 100 000 notifications through its queue, and a
// restart in the middle of a wait.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <verrou/drivers/postgres.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>
#include <verrou/testing/server.hpp>

#include "integration/postgres/pg_private_server.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// verrou::testing brings the conformance suite; this program runs no store through it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

namespace {

std::string value_of(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  std::string out = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
                        ? PQgetvalue(r, 0, 0)
                        : std::string("ERROR: ") + PQresultErrorMessage(r);
  PQclear(r);
  return out;
}

// Reads every notification that has come so far.
std::size_t drain(PGconn* listener) {
  std::size_t n = 0;
  for (;;) {
    pollfd p{PQsocket(listener), POLLIN, 0};
    const bool more = ::poll(&p, 1, 0) > 0;
    if (more && PQconsumeInput(listener) == 0) return n;
    while (PGnotify* note = PQnotifies(listener)) {
      ++n;
      PQfreemem(note);
    }
    if (!more) return n;
  }
}

// A store that has waited once keeps its listening connection for the next wait. Left
// LISTENing and never read, that connection would hold back the server's notification queue
// (8 GB, shared by the whole server) from the first notification on, until every release of
// every client fails with "too many notifications". Here 100 000 releases notify (a session
// announces itself as a waiter of their keys, and another reads the notifications) while
// the store's listener sits idle; the queue must be as empty afterwards as the reader leaves
// it. Keys are long (200 bytes) so the notifications outgrow what socket buffers would hide.
TEST(PostgresPrivate, AnIdleListenerDoesNotHoldBackTheNotificationQueue) {
  pgtest::PrivateServer server;
  if (!server.start()) VERROU_SKIP_OR_FAIL("could not start a private PostgreSQL with scripts/servers/postgres.sh");
  constexpr int kThreads = 8;
  constexpr int kCycles = 100'000;
  auto store = std::make_shared<verrou::PostgresStore>(verrou::PostgresStoreOptions{
      .conninfo = server.url(), .table_name = "queue", .pool_size = kThreads});
  const std::string stem(190, 'k');
  auto key = [&](int i) { return stem + std::to_string(i); };

  // Wait once, so the store has a listening connection, idle from then on.
  verrou::LockFactory locks(store);
  ASSERT_TRUE(store->save("w", "holder", 60s));
  std::jthread waiter([&] {  // joins on the way out, should an assertion fail
    auto lock = locks.create_lock("w", 10s);
    EXPECT_TRUE(lock.acquire({.retry = {.delay = 20s, .timeout = 30s}}));
    lock.release();
  });
  std::this_thread::sleep_for(300ms);
  store->remove("w", "holder");
  waiter.join();

  PGconn* announcer = PQconnectdb(server.url().c_str());
  PGconn* reader = PQconnectdb(server.url().c_str());
  ASSERT_EQ(PQstatus(announcer), CONNECTION_OK);
  ASSERT_EQ(PQstatus(reader), CONNECTION_OK);
  const std::string cls = std::to_string(store->postgres().waiter_lock_class());
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(value_of(announcer, "SELECT pg_advisory_lock_shared(" + cls + ", hashtext('" +
                                      key(t) + "'))::text"),
              "");
  }
  PQclear(PQexec(reader, ("LISTEN \"" + store->postgres().channel() + "\"").c_str()));

  std::atomic<int> done{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string k = key(t);
      try {
        for (int i = t; i < kCycles; i += kThreads) {
          if (!store->save(k, "me", 60s)) throw std::runtime_error("not acquired");
          store->remove(k, "me");
          ++done;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
      ++finished;
    });
  }
  // Read as they come, as a waiting client would.
  const auto started = Clock::now();
  std::size_t received = 0;
  while (finished.load() < kThreads) {
    std::this_thread::sleep_for(20ms);
    received += drain(reader);
  }
  std::cout << kCycles << " cycles in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
            << " ms\n";
  for (auto& th : threads) th.join();
  const auto deadline = Clock::now() + 30s;
  while (received < static_cast<std::size_t>(kCycles) && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    received += drain(reader);
  }
  EXPECT_EQ(done.load(), kCycles);
  EXPECT_EQ(received, static_cast<std::size_t>(kCycles));  // every release did notify
  // The queue's tail moves on when a notifying transaction crosses a few pages; a few more
  // notifications make sure it had the chance, then the reader reads them too.
  for (int i = 0; i < 200; ++i) {
    PQclear(PQexec(announcer, ("SELECT pg_notify('verrou_test', '" + stem + std::to_string(i) + "')").c_str()));
  }
  received += drain(reader);
  const double usage = std::stod(value_of(reader, "SELECT pg_notification_queue_usage()"));
  std::cout << "notification queue usage after " << kCycles << " releases: " << usage << "\n";
  // 100 000 notifications of 200 bytes held back fill about 1e-3 of the queue; the reader's
  // lag and the queue's clean-up step leave well under 1e-4.
  EXPECT_LT(usage, 1e-4);
  PQfinish(reader);
  PQfinish(announcer);
}

// A restart of the server in the middle of a wait (what a failover looks like from here):
// the waiter's listening connection is replaced once the server is back, and the waiter
// takes the lock when it is released, instead of failing with LockStorageError (which made
// `verrou run` exit 69 during a failover) or sleeping out its 30 s retry delay.
TEST(PostgresPrivate, AWaiterSurvivesARestartOfTheServer) {
  pgtest::PrivateServer server;
  if (!server.start()) VERROU_SKIP_OR_FAIL("could not start a private PostgreSQL with scripts/servers/postgres.sh");
  const std::string url = server.url() + "?connect_timeout=2";
  auto holder_store = verrou::make_postgres_store({.conninfo = url, .table_name = "restart"});
  auto waiter_store = verrou::make_postgres_store({.conninfo = url, .table_name = "restart"});
  verrou::LockFactory holders(holder_store);
  verrou::LockFactory waiters(waiter_store);
  auto holder = holders.create_lock("k", verrou::forever);
  ASSERT_TRUE(holder.acquire());

  std::atomic<int> outcome{0};  // 1 acquired, 2 not acquired, 3 threw
  std::string error;
  std::jthread waiter([&] {  // joins on the way out, should an assertion fail
    auto lock = waiters.create_lock("k", 60s);
    try {
      outcome = lock.acquire({.retry = {.delay = 30s, .timeout = 90s}}) ? 1 : 2;
      if (outcome == 1) lock.release();
    } catch (const std::exception& e) {
      error = e.what();
      outcome = 3;
    }
  });
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(server.stop());
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(server.start());
  // Give the listener time to come back (it retries within a couple of seconds).
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(outcome, 0) << error;
  const auto released = Clock::now();
  holder.release();
  waiter.join();
  EXPECT_EQ(outcome, 1) << error;
  EXPECT_LT(Clock::now() - released, 10s);
}

}  // namespace
