// SPDX-License-Identifier: Apache-2.0
// The SQLite store: conformance on a file and in memory, and what is specific to SQLite.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <verrou/drivers/sqlite.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>

using verrou::conformance::StoreConformance;
using namespace std::chrono_literals;

namespace {

// Database files of this process, removed (with their WAL files) when it exits.
struct TempFiles {
  std::mutex mutex;
  std::vector<std::string> paths;
  ~TempFiles() {
    std::error_code ec;
    for (const auto& p : paths) {
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        std::filesystem::remove(p + suffix, ec);
      }
    }
  }
};

std::string temp_db(const std::string& name) {
  static TempFiles files;
  auto dir = std::filesystem::temp_directory_path() / "verrou-sqlite-tests";
  std::filesystem::create_directories(dir);
  auto path = (dir / (name + "-" + verrou::conformance::unique_suffix() + ".db")).string();
  std::lock_guard lock(files.mutex);
  files.paths.push_back(path);
  return path;
}

// One file for the whole conformance run: every test uses its own keys.
const std::string& conformance_db() {
  static const std::string path = temp_db("conformance");
  return path;
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreConformance,
    ::testing::Values(
        verrou::conformance::StoreHarness{
            .name = "sqlite_file",
            .make_store = [] { return verrou::open_store("sqlite://" + conformance_db()); },
            .contention_cycles = 200,
            .require_fencing = true,
            .require_semaphores = true,
        },
        verrou::conformance::StoreHarness{
            .name = "sqlite_memory",
            .make_store = [] { return verrou::open_store("sqlite::memory:"); },
            .require_fencing = true,
            .require_semaphores = true,
            .stores_share_data = false,  // each in-memory store is a database of its own
        }),
    verrou::conformance::harness_name);

namespace {

TEST(Sqlite, TableIsVerrousSchema) {
  auto path = temp_db("schema");
  auto store = verrou::make_sqlite_store({.path = path});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT name, type, \"notnull\", pk FROM pragma_table_info('verrou') ORDER BY cid",
                               -1, &st, nullptr),
            SQLITE_OK);
  std::vector<std::string> cols;
  while (sqlite3_step(st) == SQLITE_ROW) {
    cols.push_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + " " +
                   reinterpret_cast<const char*>(sqlite3_column_text(st, 1)) + " " +
                   std::to_string(sqlite3_column_int(st, 2)) + " " +
                   std::to_string(sqlite3_column_int(st, 3)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(cols, (std::vector<std::string>{"key varchar(255) 1 1", "owner varchar(255) 1 0",
                                            "expiration bigint 0 0"}));
}

TEST(Sqlite, ForeverIsANullExpirationAndRowsFromOtherWritersAreHonoured) {
  auto path = temp_db("rows");
  auto store = verrou::make_sqlite_store({.path = path});
  ASSERT_TRUE(store->save("forever", "me", verrou::forever));
  auto* adapter = dynamic_cast<verrou::SqliteAdapter*>(store->adapter().get());
  ASSERT_NE(adapter, nullptr);
  auto row = adapter->get_lock("forever");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->owner, "me");
  EXPECT_FALSE(row->expiration);
  EXPECT_FALSE(row->expired);

  ASSERT_TRUE(store->save("timed", "me", 10s));
  const auto now = adapter->database_now();
  row = adapter->get_lock("timed");
  ASSERT_TRUE(row && row->expiration);
  EXPECT_GE(*row->expiration, now + 9'000);
  EXPECT_LE(*row->expiration, now + 10'000);

  // Rows written by another program (Verrou in Node.js writes the same table): an expired
  // one is free, a NULL one is held forever.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  ASSERT_EQ(sqlite3_exec(db,
                         "INSERT INTO verrou VALUES ('old', 'node', 1000), ('held', 'node', NULL)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_FALSE(store->exists("old"));
  EXPECT_TRUE(store->save("old", "me", 1s));
  EXPECT_TRUE(store->exists("held"));
  EXPECT_FALSE(store->save("held", "me", 1s));
  EXPECT_THROW(store->remove("held", "me"), verrou::LockNotOwnedError);
  store->force_remove("held");
  EXPECT_FALSE(store->exists("held"));
}

TEST(Sqlite, UrlOptions) {
  auto path = temp_db("url");
  auto store = verrou::open_store("sqlite://" + path +
                                  "?table=my_locks&pool_size=2&busy_timeout=2s");
  ASSERT_TRUE(store->save("k", "o", 1s));
  auto* db = dynamic_cast<verrou::DatabaseStore*>(store.get());
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->table_name(), "my_locks");

  EXPECT_THROW(verrou::open_store("sqlite://" + path + "?tabel=x"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("sqlite://" + path + "?pool_size=0"),
               verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("sqlite://" + path + "?busy_timeout=soon"),
               verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("sqlite://" + path + "?table=a;b"),
               verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("sqlite://relative.db"), verrou::InvalidArgumentError);
  EXPECT_THROW(verrou::open_store("sqlite:relative.db"), verrou::InvalidArgumentError);
  // No table and no auto-creation: the first statement says what is missing.
  auto bare = verrou::open_store("sqlite://" + temp_db("bare") + "?auto_create_table=false");
  EXPECT_THROW(bare->exists("k"), verrou::LockStorageError);
}

TEST(Sqlite, UnopenableFileIsAStorageErrorNamingIt) {
  try {
    verrou::open_store("sqlite:///nonexistent-dir-verrou/sub/locks.db");
    FAIL() << "expected LockStorageError";
  } catch (const verrou::LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-verrou/sub/locks.db"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("open"), std::string::npos) << e.what();
  }
}

TEST(Sqlite, InMemoryStoresAreSeparateAndKeepTheirData) {
  auto a = verrou::open_store("sqlite::memory:");
  auto b = verrou::open_store("sqlite::memory:");
  ASSERT_TRUE(a->save("k", "a", verrou::forever));
  EXPECT_TRUE(b->save("k", "b", verrou::forever));
  // Many threads on one in-memory store see one database.
  std::vector<std::thread> threads;
  std::atomic<int> wins{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      if (a->save("shared", "t" + std::to_string(i), verrou::forever)) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins, 1);
  EXPECT_TRUE(a->exists("k"));
}

TEST(Sqlite, UsesAnApplicationsConnection) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  {
    auto store = verrou::make_sqlite_store({.table_name = "app_locks", .connection = db});
    ASSERT_TRUE(store->save("k", "me", 5s));
    EXPECT_TRUE(store->exists("k"));
  }
  // The store left the connection open, and its table is there.
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT owner FROM app_locks WHERE key = 'k'", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "me");
  sqlite3_finalize(st);
  EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

TEST(Sqlite, StoresStartingAtOnceOnAFreshFileAllCreateTheTable) {
  auto path = temp_db("race");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<int> holders{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto store = verrou::make_sqlite_store({.path = path, .pool_size = 1});
        ++ok;
        if (store->save("k", "t" + std::to_string(i), verrou::forever)) ++holders;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(holders, 1);
}

TEST(Sqlite, ManyThreadsManyKeysThroughLocks) {
  auto path = temp_db("threads");
  verrou::LockFactory locks(verrou::make_sqlite_store({.path = path, .pool_size = 3}));
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        auto lock = locks.create_lock("k" + std::to_string((t * 30 + i) % 5), 10s);
        if (lock.acquire({.retry = {.delay = 1ms, .timeout = 20s}})) {
          lock.release();
          ++done;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done, 180);
}

}  // namespace
