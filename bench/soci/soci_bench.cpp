// SPDX-License-Identifier: Apache-2.0
// The SOCI store beside the native SQL stores, on one SQLite file, one PostgreSQL and one
// MariaDB server: uncontended acquire+release cycle, parallel cycles on distinct keys, and
// hand-off latency between two threads on one key (both poll here: the waiter's retry delay,
// 5 ms, bounds it; the native PostgreSQL store is woken by NOTIFY instead).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "detail/url.hpp"
#include "verrou/open_store.hpp"
#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

const std::string& run_id() {
  static const std::string id = std::to_string(std::random_device{}());
  return id;
}

std::string sqlite_file(const char* stem) {
  return (std::filesystem::temp_directory_path() / (std::string(stem) + "-" + run_id() + ".db"))
      .string();
}

// user, password, host, port and database of a native URL, as SOCI connection-string parts.
struct Server {
  std::string user, password, host, port, db;
};
Server server(const char* var, const char* fallback, const char* port) {
  const auto url = verrou::detail::parse_url(env_or(var, fallback));
  return {url.username.value_or(""), url.password.value_or(""),
          url.hosts.empty() ? "127.0.0.1" : url.hosts[0].host,
          url.hosts.empty() || !url.hosts[0].port ? port : std::to_string(*url.hosts[0].port),
          url.path.size() > 1 ? url.path.substr(1) : ""};
}

enum class Path { soci_sqlite3, native_sqlite, soci_postgresql, soci_odbc, native_postgres,
                  soci_mysql, native_mysql };

std::string url_of(Path path) {
  const auto pg = server("VERROU_POSTGRES_URL", "postgres://verrou:verrou@127.0.0.1:5432/verrou", "5432");
  const auto my = server("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou", "3306");
  const std::string table = "?table=verrou_bench";
  switch (path) {
    case Path::soci_sqlite3: return "soci://sqlite3/" + sqlite_file("verrou-bench-soci") + table;
    case Path::native_sqlite: return "sqlite://" + sqlite_file("verrou-bench-native") + table;
    case Path::soci_postgresql:
      return "soci://" + pg.user + ":" + pg.password + "@postgresql/host=" + pg.host +
             "%20port=" + pg.port + "%20dbname=" + pg.db + table;
    case Path::soci_odbc:
      return "soci://" + pg.user + ":" + pg.password + "@odbc/DRIVER={PostgreSQL%20Unicode};SERVER=" +
             pg.host + ";PORT=" + pg.port + ";DATABASE=" + pg.db + table;
    case Path::native_postgres:
      return "postgres://" + pg.user + ":" + pg.password + "@" + pg.host + ":" + pg.port + "/" +
             pg.db + table;
    case Path::soci_mysql:
      return "soci://" + my.user + ":" + my.password + "@mysql/host=" + my.host + "%20port=" +
             my.port + "%20db=" + my.db + table;
    case Path::native_mysql:
      return "mysql://" + my.user + ":" + my.password + "@" + my.host + ":" + my.port + "/" +
             my.db + table;
  }
  return {};
}

// One store per path for the whole run (made on first use); nullptr when unavailable.
std::shared_ptr<verrou::LockStore> store_for(Path path, std::string* why) {
  static std::mutex mutex;
  static std::map<Path, std::shared_ptr<verrou::LockStore>> stores;
  static std::map<Path, std::string> errors;
  std::lock_guard lock(mutex);
  if (auto it = stores.find(path); it != stores.end()) return it->second;
  if (auto it = errors.find(path); it != errors.end()) {
    *why = it->second;
    return nullptr;
  }
  try {
    auto store = verrou::open_store(url_of(path) + "&pool_size=8");
    store->exists("bench:probe");
    stores[path] = store;
    return store;
  } catch (const std::exception& e) {
    errors[path] = e.what();
    *why = e.what();
    return nullptr;
  }
}

std::string unique_key(const char* what, int thread) {
  return std::string("bench:") + what + ":" + run_id() + ":" + std::to_string(thread);
}

void BM_Cycle(benchmark::State& state, Path path) {
  std::string why;
  auto store = store_for(path, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock(unique_key("cycle", 0), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParallelDistinctKeys(benchmark::State& state, Path path) {
  std::string why;
  auto store = store_for(path, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock(unique_key("parallel", state.thread_index()), 30s);
  for (auto _ : state) {
    if (!lock.acquire()) state.SkipWithError("not acquired");
    lock.release();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_HandOff(benchmark::State& state, Path path) {
  std::string why;
  auto store = store_for(path, &why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  verrou::LockFactory locks(store);
  const std::string key = unique_key("handoff", 0);
  for (auto _ : state) {
    auto holder = locks.create_lock(key, 30s);
    if (!holder.acquire()) state.SkipWithError("not acquired");
    std::atomic<bool> waiting{false};
    std::atomic<SteadyClock::rep> got{0};
    std::thread waiter([&] {
      auto lock = locks.create_lock(key, 30s);
      waiting = true;
      if (!lock.acquire({.retry = {.delay = 5ms, .timeout = 10s}})) return;
      got = SteadyClock::now().time_since_epoch().count();
      lock.release();
    });
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // let it start waiting
    const auto released = SteadyClock::now();
    holder.release();
    waiter.join();
    if (got.load() == 0) state.SkipWithError("the waiter never acquired");
    state.SetIterationTime(
        std::chrono::duration<double>(SteadyClock::time_point(SteadyClock::duration(got.load())) -
                                      released)
            .count());
  }
}

#define VERROU_SQL_BENCH(path)                                                              \
  BENCHMARK_CAPTURE(BM_Cycle, path, Path::path)->UseRealTime();                              \
  BENCHMARK_CAPTURE(BM_ParallelDistinctKeys, path, Path::path)->Threads(1)->Threads(4)->Threads(8)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_HandOff, path, Path::path)->UseManualTime()->Iterations(30)

#if defined(VERROU_HAS_SQLITE)
VERROU_SQL_BENCH(native_sqlite);
#endif
VERROU_SQL_BENCH(soci_sqlite3);
#if defined(VERROU_HAS_POSTGRES)
VERROU_SQL_BENCH(native_postgres);
#endif
VERROU_SQL_BENCH(soci_postgresql);
VERROU_SQL_BENCH(soci_odbc);
#if defined(VERROU_HAS_MYSQL)
VERROU_SQL_BENCH(native_mysql);
#endif
VERROU_SQL_BENCH(soci_mysql);

}  // namespace

BENCHMARK_MAIN();
