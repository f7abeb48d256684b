// SPDX-License-Identifier: Apache-2.0
// Every SQL adapter (native SQLite, PostgreSQL, MySQL/MariaDB; SOCI through each backend) run
// through the same table of statement checks, against the DatabaseAdapter interface itself: the
// statements all come from one dialect layer, and must all behave alike. Adapters on one database
// must also read each other's rows and share each other's fencing counters. Plus the dialect
// layer's own rules (placeholders, names, collations).
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <verrou/drivers/database.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/conformance.hpp>
#include <verrou/testing/server.hpp>

#include "drivers/database/dialect.hpp"

// verrou::testing brings the conformance suite; this program runs no store through it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

namespace {

using namespace std::chrono_literals;
namespace sql = verrou::detail::sql;
using verrou::conformance::env_or;

std::string postgres_url() {
  return env_or("VERROU_POSTGRES_URL", "postgres://verrou:verrou@127.0.0.1:5432/verrou");
}
std::string mysql_url() {
  return env_or("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou");
}
// "postgres://user:pass@host:port/db" → its parts, for the SOCI connection strings.
struct Parts {
  std::string user, password, host, port, db;
};
Parts parts_of(const std::string& url) {
  Parts p;
  auto rest = url.substr(url.find("://") + 3);
  const auto at = rest.rfind('@');
  const auto cred = rest.substr(0, at);
  rest = rest.substr(at + 1);
  p.user = cred.substr(0, cred.find(':'));
  p.password = cred.substr(cred.find(':') + 1);
  const auto slash = rest.find('/');
  const auto hostport = rest.substr(0, slash);
  p.db = rest.substr(slash + 1, rest.find('?') == std::string::npos ? std::string::npos
                                                                    : rest.find('?') - slash - 1);
  p.host = hostport.substr(0, hostport.find(':'));
  p.port = hostport.substr(hostport.find(':') + 1);
  return p;
}

std::string unique_table(const std::string& stem) {
  std::string s = stem + "_" + verrou::conformance::unique_suffix();
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

std::string sqlite_file() {
  static const std::string path =
      "/tmp/verrou-sql-adapters-" + verrou::conformance::unique_suffix() + ".db";
  return path;
}

// One adapter: a store URL for a table. `family` groups adapters on one database.
struct Adapter {
  std::string name;
  std::string family;
  std::function<std::string(const std::string& table)> url;
};

std::vector<Adapter> adapters() {
  std::vector<Adapter> out;
#if defined(VERROU_HAS_SQLITE)
  out.push_back({"sqlite", "sqlite",
                 [](const std::string& t) { return "sqlite://" + sqlite_file() + "?table=" + t; }});
#endif
#if defined(VERROU_HAS_POSTGRES)
  out.push_back({"postgres", "postgres",
                 [](const std::string& t) { return postgres_url() + "?table=" + t; }});
#endif
#if defined(VERROU_HAS_MYSQL)
  out.push_back(
      {"mysql", "mysql", [](const std::string& t) { return mysql_url() + "?table=" + t; }});
  out.push_back({"mysql_text", "mysql", [](const std::string& t) {
                   return mysql_url() + "?table=" + t + "&prepared_statements=false";
                 }});
#endif
#if defined(VERROU_HAS_SOCI)
  out.push_back({"soci_sqlite3", "sqlite", [](const std::string& t) {
                   return "soci://sqlite3/" + sqlite_file() + "?table=" + t;
                 }});
  out.push_back({"soci_postgresql", "postgres", [](const std::string& t) {
                   const auto p = parts_of(postgres_url());
                   return "soci://" + p.user + ":" + p.password + "@postgresql/host=" + p.host +
                          "%20port=" + p.port + "%20dbname=" + p.db + "?table=" + t;
                 }});
  out.push_back({"soci_mysql", "mysql", [](const std::string& t) {
                   const auto p = parts_of(mysql_url());
                   return "soci://" + p.user + ":" + p.password + "@mysql/host=" + p.host +
                          "%20port=" + p.port + "%20db=" + p.db + "?table=" + t;
                 }});
  out.push_back({"soci_odbc_postgresql", "postgres", [](const std::string& t) {
                   const auto p = parts_of(postgres_url());
                   return "soci://" + p.user + ":" + p.password +
                          "@odbc/DRIVER={PostgreSQL%20Unicode};SERVER=" + p.host +
                          ";PORT=" + p.port + ";DATABASE=" + p.db + "?table=" + t;
                 }});
#endif
  return out;
}

void PrintTo(const Adapter& adapter, std::ostream* out) { *out << adapter.name; }

class SqlAdapters : public ::testing::TestWithParam<Adapter> {
 protected:
  // The store on a fresh table; skips (or fails under VERROU_REQUIRE_SERVERS=1) when the database
  // cannot be reached.
  std::shared_ptr<verrou::DatabaseStore> open(const std::string& table) {
    try {
      auto store = std::dynamic_pointer_cast<verrou::DatabaseStore>(
          verrou::open_store(GetParam().url(table)));
      if (!store) throw std::logic_error("not a DatabaseStore");
      return store;
    } catch (const verrou::LockStorageError& e) {
      unavailable_ = e.what();
      return nullptr;
    }
  }
  std::string unavailable_;
};

#define OPEN_OR_SKIP(var, table)                                            \
  auto var = open(table);                                                   \
  if (!var) {                                                               \
    VERROU_SKIP_OR_FAIL(GetParam().name + " unavailable: " + unavailable_); \
  }

// One step of the table: an adapter call and what it must answer.
enum class Op { insert, take_over, remove, force_remove, extend, fenced, get_owner, expired, wait };
struct Step {
  Op op;
  const char* key;
  const char* owner;  // the caller (or, for get_owner, the expected holder; "" none)
  std::optional<verrou::Duration> ttl;
  long long expect;  // rows / 0-1; for fenced: 1 taken, 0 held
  const char* why;
};

constexpr auto kLong = std::chrono::milliseconds(60'000);
// An extension must write a new expiration to count as a changed row on MySQL (the store reads
// the row back otherwise; the table calls the adapter itself).
constexpr auto kLonger = std::chrono::milliseconds(61'000);

const std::vector<Step> kTable = {
    {Op::insert, "a", "o1", kLong, 1, "a new key is inserted"},
    {Op::insert, "a", "o1", kLong, 0, "the owner's second insert is refused, not an error"},
    {Op::insert, "a", "o2", kLong, 0, "another owner's insert is refused"},
    {Op::take_over, "a", "o2", kLong, 0, "a live row is not taken over"},
    {Op::get_owner, "a", "o1", std::nullopt, 1, "the row says who holds it"},
    {Op::expired, "a", "", std::nullopt, 0, "a live row is not expired"},
    {Op::extend, "a", "o2", kLong, 0, "another owner cannot extend"},
    {Op::extend, "a", "o1", kLonger, 1, "the owner extends"},
    {Op::remove, "a", "o2", std::nullopt, 0, "another owner cannot release"},
    {Op::remove, "a", "o1", std::nullopt, 1, "the owner releases"},
    {Op::remove, "a", "o1", std::nullopt, 0, "a second release finds nothing"},
    {Op::get_owner, "a", "", std::nullopt, 1, "a released key has no row"},
    {Op::insert, "forever", "o1", std::nullopt, 1, "a lock without TTL"},
    {Op::expired, "forever", "", std::nullopt, 0, "never expires"},
    {Op::force_remove, "forever", "", std::nullopt, 1, "force release removes any holder's"},
    {Op::insert, "short", "o1", std::chrono::milliseconds(1), 1, "a lease of 1 ms"},
    {Op::wait, "", "", std::nullopt, 0, "(it runs out)"},
    {Op::expired, "short", "", std::nullopt, 1, "is expired by the server's clock"},
    {Op::extend, "short", "o1", kLong, 0, "an expired lease cannot be extended"},
    {Op::remove, "short", "o1", std::nullopt, 0, "nor released"},
    {Op::take_over, "short", "o2", kLong, 1, "and is taken over"},
    {Op::get_owner, "short", "o2", std::nullopt, 1, "by its new owner"},
    {Op::insert, "Case", "o1", kLong, 1, "keys compare exactly: Case"},
    {Op::insert, "case", "o1", kLong, 1, "keys compare exactly: case"},
    {Op::insert, "case ", "o1", kLong, 1, "keys compare exactly: trailing space"},
    {Op::force_remove, "case", "", std::nullopt, 1, "force release acts on its key only"},
    {Op::get_owner, "Case", "o1", std::nullopt, 1, "the other key is untouched"},
    {Op::fenced, "f", "o1", kLong, 1, "a fenced acquire takes a free key"},
    {Op::fenced, "f", "o1", kLong, 0, "and refuses a held one, even to its owner"},
    {Op::fenced, "f", "o2", kLong, 0, "and to another owner"},
    {Op::remove, "f", "o1", std::nullopt, 1, "released"},
    {Op::fenced, "f", "o2", std::chrono::milliseconds(1), 1, "taken again"},
    {Op::wait, "", "", std::nullopt, 0, "(its 1 ms lease runs out)"},
    {Op::fenced, "f", "o3", kLong, 1, "an expired holder's key is taken over"},
    {Op::get_owner, "f", "o3", std::nullopt, 1, "by the fenced acquirer"},
};

TEST_P(SqlAdapters, EveryStatementBehavesAsTheTableSays) {
  OPEN_OR_SKIP(store, unique_table("t_table"));
  auto& a = *store->adapter();
  ASSERT_TRUE(a.gives_fencing_tokens());
  std::optional<std::uint64_t> last_token;
  for (const auto& s : kTable) {
    const std::string key = s.key;
    const std::string owner = s.owner;
    long long got = -1;
    switch (s.op) {
      case Op::insert:
        got = a.insert_lock(key, owner, s.ttl) ? 1 : 0;
        break;
      case Op::take_over:
        got = static_cast<long long>(a.acquire_expired_lock(key, owner, s.ttl));
        break;
      case Op::remove:
        got = static_cast<long long>(a.delete_lock(key, owner));
        break;
      case Op::force_remove:
        got = static_cast<long long>(a.delete_lock(key, std::nullopt));
        break;
      case Op::extend:
        got = static_cast<long long>(a.extend_lock(key, owner, *s.ttl));
        break;
      case Op::fenced: {
        const auto token = a.acquire_fenced_lock(key, owner, s.ttl);
        got = token ? 1 : 0;
        if (token) {
          if (last_token) {
            EXPECT_GT(*token, *last_token) << s.why;
          }
          last_token = token;
        }
        break;
      }
      case Op::get_owner: {
        const auto row = a.get_lock(key);
        got = (owner.empty() ? !row : (row && row->owner == owner)) ? 1 : 0;
        break;
      }
      case Op::wait:
        std::this_thread::sleep_for(20ms);
        got = 0;
        break;
      case Op::expired: {
        const auto row = a.get_lock(key);
        EXPECT_TRUE(row.has_value()) << s.why;
        got = row && row->expired ? 1 : 0;
        break;
      }
    }
    EXPECT_EQ(got, s.expect) << GetParam().name << ": " << s.why << " (key \"" << key << "\")";
  }
}

TEST_P(SqlAdapters, AdaptersOnOneDatabaseShareRowsAndCounters) {
  const std::string table = unique_table("t_shared");
  OPEN_OR_SKIP(mine, table);
  auto& a = *mine->adapter();
  const auto first = a.acquire_fenced_lock("k", "me", kLong);
  ASSERT_TRUE(first.has_value());
  for (const auto& other : adapters()) {
    if (other.family != GetParam().family || other.name == GetParam().name) continue;
    std::shared_ptr<verrou::DatabaseStore> theirs;
    try {
      theirs =
          std::dynamic_pointer_cast<verrou::DatabaseStore>(verrou::open_store(other.url(table)));
    } catch (const verrou::LockStorageError&) {
      continue;  // that path is unavailable here; its own test says so
    }
    auto& b = *theirs->adapter();
    const auto row = b.get_lock("k");
    ASSERT_TRUE(row.has_value()) << other.name << " does not see " << GetParam().name << "'s row";
    EXPECT_EQ(row->owner, "me");
    EXPECT_FALSE(b.acquire_fenced_lock("k", "them", kLong).has_value()) << other.name;
    ASSERT_EQ(a.delete_lock("k", std::string("me")), 1U);
    const auto next = b.acquire_fenced_lock("k", "them", kLong);
    ASSERT_TRUE(next.has_value()) << other.name;
    EXPECT_GT(*next, *first) << other.name << " does not share " << GetParam().name
                             << "'s fencing counter";
    ASSERT_EQ(b.delete_lock("k", std::string("them")), 1U);
    const auto again = a.acquire_fenced_lock("k", "me", kLong);
    ASSERT_TRUE(again.has_value());
    EXPECT_GT(*again, *next);
    return;
  }
}

// Several processes take turns on one key; each writes the token it got to a shared file while
// it holds the lock (so the file is in holding order). Every token must exceed the one before.
TEST_P(SqlAdapters, FencingTokensIncreaseAcrossProcesses) {
  constexpr int kProcesses = 4;
  constexpr int kCycles = 40;
  const std::string table = unique_table("t_procs");
  {
    OPEN_OR_SKIP(creator, table);  // creates the tables, and checks the database is there
  }
  const std::string log = "/tmp/verrou-sql-tokens-" + verrou::conformance::unique_suffix();
  const std::string url = GetParam().url(table);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: its own store and connections; _exit, so nothing of the parent's runs.
      int status = 0;
      try {
        verrou::LockFactory locks(verrou::open_store(url));
        for (int i = 0; i < kCycles && status == 0; ++i) {
          auto lock = locks.create_lock("k", 30s);
          if (!lock.acquire({.retry = {.delay = 2ms, .timeout = 120s}})) {
            status = 4;
            break;
          }
          const auto token = lock.fencing_token();
          const std::string line = (token ? std::to_string(*token) : std::string("none")) + "\n";
          const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
          if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            status = 5;
          }
          if (fd >= 0) ::close(fd);
          lock.release();
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        status = 2;
      }
      std::fflush(nullptr);
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a child failed (status " << status << ")";
  }
  std::ifstream in(log);
  std::vector<std::uint64_t> tokens;
  for (std::string line; std::getline(in, line);) {
    ASSERT_NE(line, "none") << "an acquisition without a token";
    tokens.push_back(std::stoull(line));
  }
  std::remove(log.c_str());
  EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kProcesses * kCycles));
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    ASSERT_GT(tokens[i], tokens[i - 1]) << "holder " << i << " got a token not above its "
                                        << "predecessor's";
  }
}

// Several processes, each with its own store and connections, take permits of one semaphore;
// each counts the holders in a shared folder while it holds one (a marker file per holder).
TEST_P(SqlAdapters, SemaphoreHoldersNeverExceedTheLimitAcrossProcesses) {
  constexpr int kProcesses = 4;
  constexpr int kCycles = 25;
  constexpr std::uint32_t kLimit = 2;
  const std::string table = unique_table("t_sem");
  {
    OPEN_OR_SKIP(creator, table);
  }
  const std::string dir = "/tmp/verrou-sql-sem-" + verrou::conformance::unique_suffix();
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string url = GetParam().url(table);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 0;
      try {
        verrou::LockFactory locks(verrou::open_store(url));
        for (int i = 0; i < kCycles && status == 0; ++i) {
          auto permit = locks.create_semaphore("s", kLimit, 30s);
          if (!permit.acquire({.retry = {.delay = 2ms, .timeout = 120s}})) {
            status = 4;
            break;
          }
          const std::string mine = dir + "/" + std::to_string(::getpid());
          const int fd = ::open(mine.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
          if (fd >= 0) ::close(fd);
          int inside = 0;
          if (DIR* d = ::opendir(dir.c_str())) {
            while (dirent* e = ::readdir(d)) inside += e->d_name[0] != '.' ? 1 : 0;
            ::closedir(d);
          }
          if (inside > static_cast<int>(kLimit)) status = 3;  // too many holders at once
          std::this_thread::sleep_for(1ms);
          ::unlink(mine.c_str());
          permit.release();
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        status = 2;
      }
      std::fflush(nullptr);
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a child failed (status " << status << "; 3: more than " << kLimit
        << " holders at once)";
  }
  ::rmdir(dir.c_str());
}

TEST_P(SqlAdapters, AdaptersOnOneDatabaseShareSemaphores) {
  const std::string table = unique_table("t_shsem");
  OPEN_OR_SKIP(mine, table);
  ASSERT_TRUE(mine->save_permit("s", "a", 2, kLong));
  for (const auto& other : adapters()) {
    if (other.family != GetParam().family || other.name == GetParam().name) continue;
    std::shared_ptr<verrou::DatabaseStore> theirs;
    try {
      theirs =
          std::dynamic_pointer_cast<verrou::DatabaseStore>(verrou::open_store(other.url(table)));
    } catch (const verrou::LockStorageError&) {
      continue;
    }
    EXPECT_EQ(theirs->count_permits("s"), 1U) << other.name;
    ASSERT_TRUE(theirs->save_permit("s", "b", 2, kLong)) << other.name;
    EXPECT_FALSE(mine->save_permit("s", "c", 2, kLong)) << "a third holder with " << other.name;
    EXPECT_FALSE(theirs->save_permit("s", "a", 2, kLong)) << "a holder twice";
    theirs->remove_permit("s", "a");
    EXPECT_TRUE(mine->save_permit("s", "c", 5, kLong));
    EXPECT_EQ(mine->count_permits("s"), 2U);
    EXPECT_THROW(theirs->remove_permit("s", "a"), verrou::LockNotOwnedError);
    theirs->extend_permit("s", "b", kLong);
    // A lock of the same name is apart.
    EXPECT_TRUE(theirs->save("s", "lock-owner", kLong));
    EXPECT_EQ(mine->count_permits("s"), 2U);
    return;
  }
}

// fencing_tokens=false: no tokens, and the locks behave as before, on the same table.
TEST_P(SqlAdapters, WithoutFencingTokensLocksStillWork) {
  const std::string table = unique_table("t_nofence");
  OPEN_OR_SKIP(fenced, table);
  std::shared_ptr<verrou::DatabaseStore> plain;
  const auto base = GetParam().url(table);
  plain = std::dynamic_pointer_cast<verrou::DatabaseStore>(verrou::open_store(
      base + (base.find('?') == std::string::npos ? "?" : "&") + "fencing_tokens=false"));
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->gives_fencing_tokens());
  EXPECT_TRUE(fenced->gives_fencing_tokens());
  verrou::LockFactory locks(plain);
  auto waited = locks.create_lock("k", 30s);
  ASSERT_TRUE(waited.acquire({.retry = {.timeout = 5s}})) << "a waiting acquisition";
  EXPECT_EQ(waited.fencing_token(), std::nullopt);
  waited.release();
  auto lock = locks.create_lock("k", 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  EXPECT_EQ(lock.fencing_token(), std::nullopt);
  EXPECT_FALSE(fenced->save_fenced("k", "other", 30s).has_value());
  lock.release();
  const auto token = fenced->save_fenced("k", "other", 30s);
  ASSERT_TRUE(token.has_value());
  EXPECT_FALSE(plain->save("k", "third", 30s));
  fenced->remove("k", "other");
  EXPECT_THROW(verrou::open_store(base + (base.find('?') == std::string::npos ? "?" : "&") +
                                  "fencing_tokens=maybe"),
               verrou::InvalidArgumentError);
}

std::string adapter_name(const ::testing::TestParamInfo<Adapter>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Sql, SqlAdapters, ::testing::ValuesIn(adapters()), adapter_name);

// --- The dialect layer itself.

constexpr sql::Dialect kDialects[] = {sql::Dialect::sqlite, sql::Dialect::postgresql,
                                      sql::Dialect::mysql,  sql::Dialect::sql_server,
                                      sql::Dialect::oracle, sql::Dialect::firebird};

std::vector<const sql::Statement*> all(const sql::Statements& s) {
  return {&s.insert,         &s.take_over,  &s.remove,       &s.remove_owned,
          &s.extend,         &s.get,        &s.now_query,    &s.acquire,
          &s.acquire_fenced, &s.bump_token, &s.bump_token_if_taken, &s.insert_token, &s.read_token, &s.lock_semaphore, &s.prune_permits,
          &s.insert_permit, &s.delete_permit, &s.extend_permit, &s.count_permits, &s.permit_held};
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(SqlDialect, EveryPlaceholderHasItsValue) {
  for (auto d : kDialects) {
    for (auto keys : {sql::KeyComparison::exact, sql::KeyComparison::inexact}) {
      const auto q =
          sql::build(d, "verrou", {.placeholders = sql::Placeholders::question, .keys = keys});
      for (const auto* st : all(q))
        EXPECT_EQ(count_of(st->text, "?"), st->params.size()) << st->text;
      const auto n =
          sql::build(d, "verrou", {.placeholders = sql::Placeholders::named, .keys = keys});
      for (const auto* st : all(n)) {
        EXPECT_EQ(count_of(st->text, ":p"), st->params.size()) << st->text;
        for (std::size_t i = 1; i <= st->params.size(); ++i) {
          // (":p1" also finds ":p10", but no statement has ten parameters.)
          EXPECT_EQ(count_of(st->text, ":p" + std::to_string(i)), 1U) << st->text;
        }
      }
      const auto dollar = sql::build(d, "verrou", {.placeholders = sql::Placeholders::dollar});
      for (const auto* st : all(dollar)) {
        for (std::size_t i = 1; i <= 4; ++i) {
          const bool used = count_of(st->text, "$" + std::to_string(i)) > 0;
          EXPECT_EQ(used, i <= st->params.size()) << "$" << i << " in " << st->text;
        }
      }
    }
  }
}

TEST(SqlDialect, TheSameQuestionStatementsAsEachAdapterBuilds) {
  // Two builds of one table give byte-identical texts: what native and SOCI adapters share.
  for (auto d : kDialects) {
    const auto a = sql::build(d, "locks");
    const auto b = sql::build(d, "locks");
    const auto sa = all(a);
    const auto sb = all(b);
    for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i]->text, sb[i]->text);
    EXPECT_EQ(a.create_tables, b.create_tables);
    const bool semaphores = d == sql::Dialect::sqlite || d == sql::Dialect::postgresql ||
                            d == sql::Dialect::mysql;
    EXPECT_EQ(a.create_tables.size(), semaphores ? 3U : 2U)
        << "the lock table, its fencing table and (where written) its semaphore table";
  }
}

TEST(SqlDialect, NamesOfTheFencingTableAndTheChannel) {
  EXPECT_EQ(sql::fencing_table_name("verrou"), "verrou_fencing");
  const std::string long55(55, 'a');
  EXPECT_EQ(sql::fencing_table_name(long55), long55 + "_fencing");
  const std::string long63(63, 'b');
  const auto name = sql::fencing_table_name(long63);
  EXPECT_EQ(name.size(), 63U);
  EXPECT_NE(name, sql::fencing_table_name(std::string(62, 'b') + "c"));
  // The channel name is what waiters of every adapter, and of earlier versions, listen on. (64-bit
  // FNV-1a of the table name, as every release so far has announced on.)
  EXPECT_EQ(sql::notification_channel("verrou"), "verrou_0ec3a94481c3d466");
  EXPECT_EQ(sql::build(sql::Dialect::postgresql, "verrou").channel,
            sql::notification_channel("verrou"));
}

TEST(SqlDialect, MysqlCollationByExactVersion) {
  auto collation = [](const char* v) {
    return sql::mysql_binary_collation(sql::parse_mysql_version(v));
  };
  EXPECT_EQ(collation("10.11.19-MariaDB-0+deb12u1"), "utf8mb4_nopad_bin");
  EXPECT_EQ(collation("5.5.5-10.3.39-MariaDB"), "utf8mb4_nopad_bin");
  EXPECT_EQ(collation("8.0.16"), "utf8mb4_bin");
  EXPECT_EQ(collation("8.0.17"), "utf8mb4_0900_bin");
  EXPECT_EQ(collation("8.0.36-log"), "utf8mb4_0900_bin");
  EXPECT_EQ(collation("8.4.0"), "utf8mb4_0900_bin");
  EXPECT_EQ(collation("9.1.0"), "utf8mb4_0900_bin");
  EXPECT_EQ(collation("5.7.44"), "utf8mb4_bin");
  EXPECT_EQ(collation("10.0.0"), "utf8mb4_0900_bin") << "a MySQL 10 would have it";
}

TEST(SqlDialect, WhichMysqlCollationsCompareExactly) {
  for (const char* exact : {"utf8mb4_nopad_bin", "utf8mb4_0900_bin", "binary", "",
                            "utf8mb3_nopad_bin", "latin1_nopad_bin"}) {
    EXPECT_TRUE(sql::mysql_collation_is_exact(exact)) << exact;
  }
  for (const char* inexact :
       {"utf8mb4_general_ci", "utf8mb4_0900_ai_ci", "utf8mb4_bin", "latin1_swedish_ci",
        "utf8mb4_unicode_ci", "latin1_bin", "utf8mb4_uca1400_ai_ci"}) {
    EXPECT_FALSE(sql::mysql_collation_is_exact(inexact)) << inexact;
  }
}

}  // namespace
