// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/sqlite.hpp"

#include <sqlite3.h>

#include <array>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/url.hpp"
#include "drivers/database/options.hpp"
#include "drivers/database/pool.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

// Epoch milliseconds by SQLite's clock. 3.40 has no unixepoch('subsec'): convert the Julian
// day number (SQLite keeps 'now' in whole milliseconds, fixed for one statement).
constexpr const char* kNow = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)";

enum Stmt : std::size_t { kInsert, kTakeOver, kDelete, kDeleteOwned, kExtend, kGet, kNowQ, kCount };

std::string statement_text(Stmt s, const std::string& t) {
  const std::string now = kNow;
  const std::string live = "(\"expiration\" IS NULL OR \"expiration\" > " + now + ")";
  switch (s) {
    case kInsert:
      return "INSERT INTO " + t + " (\"key\", \"owner\", \"expiration\") VALUES (?1, ?2, ?3 + " +
             now + ") ON CONFLICT (\"key\") DO NOTHING";
    case kTakeOver:
      return "UPDATE " + t + " SET \"owner\" = ?2, \"expiration\" = ?3 + " + now +
             " WHERE \"key\" = ?1 AND \"expiration\" IS NOT NULL AND \"expiration\" <= " + now;
    case kDelete:
      return "DELETE FROM " + t + " WHERE \"key\" = ?1";
    case kDeleteOwned:
      return "DELETE FROM " + t + " WHERE \"key\" = ?1 AND \"owner\" = ?2 AND " + live;
    case kExtend:
      return "UPDATE " + t + " SET \"expiration\" = ?3 + " + now +
             " WHERE \"key\" = ?1 AND \"owner\" = ?2 AND " + live;
    case kGet:
      return "SELECT \"owner\", \"expiration\", \"expiration\" IS NOT NULL AND \"expiration\" <= " +
             now + " FROM " + t + " WHERE \"key\" = ?1";
    case kNowQ:
      return "SELECT " + now;
    case kCount:
      break;
  }
  return {};
}

struct Connection {
  sqlite3* db = nullptr;
  bool owned = true;
  std::array<sqlite3_stmt*, kCount> stmts{};

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    for (auto* s : stmts) sqlite3_finalize(s);
    if (owned && db != nullptr) sqlite3_close_v2(db);
  }
};

}  // namespace

struct SqliteAdapter::Impl {
  SqliteStoreOptions options;
  std::string where;  // for messages: the file, or "in-memory database"
  std::string table;  // quoted
  std::unique_ptr<detail::ConnectionPool<Connection>> pool;

  [[noreturn]] void fail(sqlite3* db, int rc, std::string_view operation) const {
    std::string msg = "SQLite " + where + ": " + std::string(operation) + " failed: ";
    msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    msg += " (code " + std::to_string(rc) + ")";
    if ((rc & 0xff) == SQLITE_BUSY) {
      msg += "; the database stayed locked by another connection longer than busy_timeout";
    }
    throw LockStorageError(msg);
  }

  void exec(sqlite3* db, const char* sql, std::string_view operation) const {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string text = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw LockStorageError("SQLite " + where + ": " + std::string(operation) +
                             " failed: " + text + " (code " + std::to_string(rc) + ")");
    }
  }

  std::unique_ptr<Connection> connect() const {
    auto conn = std::make_unique<Connection>();
    if (options.connection != nullptr) {
      conn->db = options.connection;
      conn->owned = false;
      return conn;
    }
    // Each connection is used by one thread at a time (the pool sees to it): no mutex.
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(options.path.c_str(), &conn->db, flags, nullptr);
    if (rc != SQLITE_OK) fail(conn->db, rc, "open");
    sqlite3_extended_result_codes(conn->db, 1);
    const auto busy = options.busy_timeout.count();
    sqlite3_busy_timeout(conn->db, busy > INT_MAX ? INT_MAX : static_cast<int>(busy));
    if (options.path != ":memory:") {
      // WAL: readers never block the writer, and a commit is one append. A process that
      // finds the file busy while switching leaves it as it is: locks stay correct either way.
      try {
        exec(conn->db, "PRAGMA journal_mode=WAL", "enable WAL");
      } catch (const LockStorageError&) {
      }
      exec(conn->db, "PRAGMA synchronous=NORMAL", "set synchronous");
    }
    return conn;
  }

  sqlite3_stmt* statement(Connection& c, Stmt s) const {
    auto& slot = c.stmts[s];
    if (slot == nullptr) {
      const std::string sql = statement_text(s, table);
      int rc = sqlite3_prepare_v3(c.db, sql.c_str(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &slot, nullptr);
      if (rc != SQLITE_OK) {
        slot = nullptr;
        fail(c.db, rc, "prepare statement (is the lock table there? auto_create_table=false)");
      }
    }
    return slot;
  }

  // Runs one prepared statement: binds key, owner and ms (each when given), steps once and
  // hands the row (if any) to `on_row`. Returns sqlite3_changes for writes.
  template <class OnRow>
  std::uint64_t run(Stmt s, std::string_view operation, const std::string* key,
                    const std::string* owner, std::optional<std::int64_t> ms, bool bind_ms,
                    OnRow&& on_row) {
    auto lease = pool->acquire();
    Connection& c = *lease;
    sqlite3_stmt* st = statement(c, s);
    struct Reset {
      sqlite3_stmt* st;
      ~Reset() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } reset{st};
    if (key != nullptr) {
      sqlite3_bind_text(st, 1, key->data(), static_cast<int>(key->size()), SQLITE_STATIC);
    }
    if (owner != nullptr) {
      sqlite3_bind_text(st, 2, owner->data(), static_cast<int>(owner->size()), SQLITE_STATIC);
    }
    if (bind_ms) {
      if (ms) {
        sqlite3_bind_int64(st, 3, *ms);
      } else {
        sqlite3_bind_null(st, 3);
      }
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      on_row(st);
      rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) fail(c.db, rc, operation);
    return static_cast<std::uint64_t>(sqlite3_changes(c.db));
  }

  std::uint64_t write(Stmt s, std::string_view operation, const std::string* key,
                      const std::string* owner, std::optional<std::int64_t> ms, bool bind_ms) {
    return run(s, operation, key, owner, ms, bind_ms, [](sqlite3_stmt*) {});
  }
};

SqliteAdapter::SqliteAdapter(SqliteStoreOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.connection == nullptr && options.path.empty()) {
    throw InvalidArgumentError(
        "SqliteStoreOptions: give a database file path (or \":memory:\") or an open "
        "connection");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("SqliteStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  if (options.busy_timeout <= Duration::zero()) {
    throw InvalidArgumentError(
        "SqliteStoreOptions::busy_timeout must be above zero (default 5s)");
  }
  const bool in_memory = options.connection == nullptr && options.path == ":memory:";
  impl_->where = options.connection != nullptr ? "database (application's connection)"
                 : in_memory                   ? "in-memory database"
                                               : "database " + options.path;
  // Every in-memory connection is a database of its own, so an in-memory store keeps one
  // connection for its whole life; so does a borrowed connection.
  const std::size_t size = (in_memory || options.connection != nullptr) ? 1 : options.pool_size;
  impl_->options = std::move(options);
  Impl* impl = impl_.get();
  impl_->pool = std::make_unique<detail::ConnectionPool<Connection>>(
      size, [impl] { return impl->connect(); }, nullptr, "SQLite " + impl_->where);
}

SqliteAdapter::~SqliteAdapter() = default;

void SqliteAdapter::set_table_name(const std::string& table) {
  validate_sql_identifier(table);
  impl_->table = quote_sql_identifier(table);
}

void SqliteAdapter::create_table_if_not_exists() {
  auto lease = impl_->pool->acquire();
  // The write lock serializes concurrent creators (waiting up to busy_timeout), and IF NOT
  // EXISTS makes the later ones do nothing.
  const std::string sql = "CREATE TABLE IF NOT EXISTS " + impl_->table +
                          " (\"key\" varchar(255) NOT NULL PRIMARY KEY, "
                          "\"owner\" varchar(255) NOT NULL, \"expiration\" bigint NULL)";
  impl_->exec(lease->db, sql.c_str(), "create lock table");
}

bool SqliteAdapter::insert_lock(const std::string& key, const std::string& owner,
                                std::optional<Duration> ttl) {
  std::optional<std::int64_t> ms;
  if (ttl) ms = ttl->count();
  return impl_->write(kInsert, "insert lock", &key, &owner, ms, true) > 0;
}

std::uint64_t SqliteAdapter::acquire_expired_lock(const std::string& key,
                                                  const std::string& owner,
                                                  std::optional<Duration> ttl) {
  std::optional<std::int64_t> ms;
  if (ttl) ms = ttl->count();
  return impl_->write(kTakeOver, "take over expired lock", &key, &owner, ms, true);
}

std::uint64_t SqliteAdapter::delete_lock(const std::string& key,
                                         const std::optional<std::string>& owner) {
  if (owner) return impl_->write(kDeleteOwned, "release lock", &key, &*owner, std::nullopt, false);
  return impl_->write(kDelete, "force release lock", &key, nullptr, std::nullopt, false);
}

std::uint64_t SqliteAdapter::extend_lock(const std::string& key, const std::string& owner,
                                         Duration duration) {
  return impl_->write(kExtend, "extend lock", &key, &owner, duration.count(), true);
}

std::optional<DatabaseLockRow> SqliteAdapter::get_lock(const std::string& key) {
  std::optional<DatabaseLockRow> row;
  impl_->run(kGet, "read lock", &key, nullptr, std::nullopt, false, [&](sqlite3_stmt* st) {
    DatabaseLockRow r;
    const auto* text = sqlite3_column_text(st, 0);
    r.owner.assign(reinterpret_cast<const char*>(text),
                   static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) r.expiration = sqlite3_column_int64(st, 1);
    r.expired = sqlite3_column_int(st, 2) != 0;
    row = std::move(r);
  });
  return row;
}

std::int64_t SqliteAdapter::database_now() {
  std::int64_t now = 0;
  impl_->run(kNowQ, "read clock", nullptr, nullptr, std::nullopt, false,
             [&](sqlite3_stmt* st) { now = sqlite3_column_int64(st, 0); });
  return now;
}

std::shared_ptr<DatabaseStore> make_sqlite_store(SqliteStoreOptions options) {
  auto table = options.table_name;
  const bool create = options.auto_create_table;
  return std::make_shared<DatabaseStore>(DatabaseStoreOptions{
      .adapter = std::make_shared<SqliteAdapter>(std::move(options)),
      .table_name = std::move(table),
      .auto_create_table = create,
  });
}

StoreFactory sqlite_store(SqliteStoreOptions options) {
  return StoreFactory{.driver = "sqlite",
                      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
                        return make_sqlite_store(options);
                      }};
}

namespace detail {
namespace {

std::shared_ptr<LockStore> open_sqlite(const Url& url) {
  url.check_params({"table", "pool_size", "busy_timeout", "auto_create_table"});
  SqliteStoreOptions options;
  if (!url.has_authority && url.opaque == ":memory:") {
    options.path = ":memory:";
  } else if (url.has_authority && url.hosts.empty() && url.path.size() > 1 &&
             url.path[0] == '/') {
    options.path = url.path;
  } else {
    throw InvalidArgumentError(
        "invalid SQLite URL: expected sqlite:///absolute/path.db (three slashes, then the "
        "absolute path) or sqlite::memory:");
  }
  if (auto t = url.param("table")) options.table_name = *t;
  options.pool_size = size_param(url, "pool_size", options.pool_size, 1, 64);
  options.busy_timeout = duration_param(url, "busy_timeout", options.busy_timeout);
  options.auto_create_table = bool_param(url, "auto_create_table", true);
  return make_sqlite_store(std::move(options));
}

}  // namespace

void register_sqlite_driver(DriverRegistry& registry) { registry.add("sqlite", &open_sqlite); }

}  // namespace detail
}  // namespace verrou
