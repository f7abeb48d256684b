// SPDX-License-Identifier: Apache-2.0
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/store_factory.hpp"
#include "detail/store_options.hpp"
#include "detail/url.hpp"
#include "drivers/database/adapter_store.hpp"
#include "drivers/database/dialect.hpp"
#include "drivers/database/pool.hpp"
#include "verrou/drivers/sqlite.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

namespace sql = detail::sql;

// The statements a connection prepares (each once, on first use).
enum Stmt : std::size_t {
  kInsert,
  kTakeOver,
  kDelete,
  kDeleteOwned,
  kExtend,
  kGet,
  kNowQ,
  kAcquire,
  kBumpToken,
  kReadToken,
  kLockSemaphore,
  kPrunePermits,
  kInsertPermit,
  kDeletePermit,
  kExtendPermit,
  kCountPermits,
  kPermitHeld,
  kList,
  kSavepoint,
  kRelease,
  kRollbackTo,
  kCount
};

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

// The values a statement may bind (see sql::Param).
struct Values {
  const std::string* key = nullptr;
  const std::string* owner = nullptr;
  std::optional<std::int64_t> ms;
  std::int64_t limit = 0;
};

}  // namespace

struct SqliteAdapter::Impl {
  SqliteStoreOptions options;
  std::string where;  // for messages: the file, or "in-memory database"
  sql::Statements sql;
  std::unique_ptr<detail::ConnectionPool<Connection>> pool;

  [[noreturn]] void fail(sqlite3* db, int rc, std::string_view operation) const {
    std::string msg = "SQLite " + where + ": " + std::string(operation) + " failed: ";
    msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    msg += " (code " + std::to_string(rc) + ")";
    if ((rc & 0xff) == SQLITE_BUSY) {
      msg +=
          "; the database stayed locked by another connection longer than "
          "busy_timeout";
    }
    throw LockStorageError(msg);
  }

  void exec(sqlite3* db, const char* text, std::string_view operation) const {
    char* err = nullptr;
    int rc = sqlite3_exec(db, text, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string cause = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw LockStorageError("SQLite " + where + ": " + std::string(operation) +
                             " failed: " + cause + " (code " + std::to_string(rc) + ")");
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
      // WAL: readers never block the writer, and a commit is one append. A process that finds the
      // file busy while switching leaves it as it is: locks stay correct either way.
      try {
        exec(conn->db, "PRAGMA journal_mode=WAL", "enable WAL");
      } catch (const LockStorageError&) {
      }
      exec(conn->db, "PRAGMA synchronous=NORMAL", "set synchronous");
    }
    return conn;
  }

  const sql::Statement* statement_of(Stmt s) const {
    switch (s) {
      case kInsert:
        return &sql.insert;
      case kTakeOver:
        return &sql.take_over;
      case kDelete:
        return &sql.remove;
      case kDeleteOwned:
        return &sql.remove_owned;
      case kExtend:
        return &sql.extend;
      case kGet:
        return &sql.get;
      case kNowQ:
        return &sql.now_query;
      case kAcquire:
        return &sql.acquire;
      case kBumpToken:
        return &sql.bump_token;
      case kReadToken:
        return &sql.read_token;
      case kLockSemaphore:
        return &sql.lock_semaphore;
      case kPrunePermits:
        return &sql.prune_permits;
      case kInsertPermit:
        return &sql.insert_permit;
      case kDeletePermit:
        return &sql.delete_permit;
      case kExtendPermit:
        return &sql.extend_permit;
      case kCountPermits:
        return &sql.count_permits;
      case kPermitHeld:
        return &sql.permit_held;
      case kList:
        return &sql.list;
      case kSavepoint:
      case kRelease:
      case kRollbackTo:
      case kCount:
        break;
    }
    return nullptr;
  }

  sqlite3_stmt* prepared(Connection& c, Stmt s) const {
    auto& slot = c.stmts[s];
    if (slot == nullptr) {
      // The fenced acquire runs in a savepoint: a transaction of its own, or nested in one the
      // application opened on a connection it lent.
      const sql::Statement* statement = statement_of(s);
      const std::string text = s == kSavepoint        ? "SAVEPOINT verrou_acquire"
                               : s == kRelease        ? "RELEASE verrou_acquire"
                               : s == kRollbackTo     ? "ROLLBACK TO verrou_acquire"
                               : statement != nullptr ? statement->text
                                                      : std::string();
      int rc = sqlite3_prepare_v3(c.db, text.c_str(), static_cast<int>(text.size()),
                                  SQLITE_PREPARE_PERSISTENT, &slot, nullptr);
      if (rc != SQLITE_OK) {
        slot = nullptr;
        fail(c.db, rc,
             "prepare statement (is the lock table there? "
             "auto_create_table=false)");
      }
    }
    return slot;
  }

  // Runs one statement on `c`: binds its parameters from `v`, steps once and hands the row (if any)
  // to `on_row`. Returns sqlite3_changes for writes.
  template <class OnRow>
  std::uint64_t step(Connection& c, Stmt s, std::string_view operation, const Values& v,
                     OnRow&& on_row) const {
    sqlite3_stmt* st = prepared(c, s);
    struct Reset {
      sqlite3_stmt* st;
      ~Reset() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } reset{st};
    if (const sql::Statement* text = statement_of(s)) {
      int index = 1;
      for (sql::Param p : text->params) {
        const std::string* str = p == sql::Param::key     ? v.key
                                 : p == sql::Param::owner ? v.owner
                                                          : nullptr;
        if (str != nullptr) {
          sqlite3_bind_text(st, index, str->data(), static_cast<int>(str->size()), SQLITE_STATIC);
        } else if (p == sql::Param::ms && v.ms) {
          sqlite3_bind_int64(st, index, *v.ms);
        } else if (p == sql::Param::limit) {
          sqlite3_bind_int64(st, index, v.limit);
        } else {
          sqlite3_bind_null(st, index);
        }
        ++index;
      }
    }
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW) {  // one row, but a listing's many
      on_row(st);
      rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) fail(c.db, rc, operation);
    return static_cast<std::uint64_t>(sqlite3_changes(c.db));
  }

  std::uint64_t step(Connection& c, Stmt s, std::string_view operation, const Values& v) const {
    return step(c, s, operation, v, [](sqlite3_stmt*) {});
  }

  template <class OnRow>
  std::uint64_t run(Stmt s, std::string_view operation, const Values& v, OnRow&& on_row) {
    auto lease = pool->acquire();
    return step(*lease, s, operation, v, std::forward<OnRow>(on_row));
  }

  std::uint64_t write(Stmt s, std::string_view operation, const Values& v) {
    return run(s, operation, v, [](sqlite3_stmt*) {});
  }

  // Runs `f(connection)` in one transaction (a savepoint: a transaction of its own, or nested in
  // one the application opened on a connection it lent), leaving none open whatever happens.
  template <class F>
  auto in_savepoint(F&& f) {
    auto lease = pool->acquire();
    Connection& c = *lease;
    step(c, kSavepoint, "begin transaction", {});
    try {
      auto result = f(c);
      step(c, kRelease, "commit transaction", {});
      return result;
    } catch (...) {
      if (sqlite3_get_autocommit(c.db) == 0) {
        try {
          step(c, kRollbackTo, "roll back transaction", {});
          step(c, kRelease, "end transaction", {});
        } catch (const LockStorageError&) {
          if (options.connection == nullptr) lease.discard();
        }
      }
      throw;
    }
  }

  // Takes the lock and raises its fencing counter in one transaction.
  std::optional<std::uint64_t> acquire_fenced(const Values& v) {
    return in_savepoint([&](Connection& c) {
      std::optional<std::uint64_t> token;
      if (step(c, kAcquire, "acquire lock", v) > 0) {
        step(c, kBumpToken, "raise fencing token", v);
        step(c, kReadToken, "read fencing token", v, [&](sqlite3_stmt* st) {
          token = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
        });
        if (!token) fail(c.db, SQLITE_ERROR, "read fencing token (no row)");
      }
      return token;
    });
  }

  // Admits a semaphore holder in one transaction (SQLite lets one writer in at a time, so the
  // count and the insertion cannot interleave with another admission).
  bool insert_permit(const Values& v) {
    return in_savepoint([&](Connection& c) {
      step(c, kLockSemaphore, "lock semaphore", v);
      step(c, kPrunePermits, "prune expired permits", v);
      return step(c, kInsertPermit, "acquire permit", v) > 0;
    });
  }

  std::int64_t count(Stmt s, std::string_view operation, const Values& v) {
    std::int64_t n = 0;
    run(s, operation, v, [&](sqlite3_stmt* st) { n = sqlite3_column_int64(st, 0); });
    return n;
  }
};

SqliteAdapter::SqliteAdapter(SqliteStoreOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.connection == nullptr && options.path.empty()) {
    throw InvalidArgumentError(
        "SqliteStoreOptions: give a database file path "
        "(or \":memory:\") or an open "
        "connection");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("SqliteStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  detail::check_duration("SqliteStoreOptions::busy_timeout", options.busy_timeout);
  const bool in_memory = options.connection == nullptr && options.path == ":memory:";
  impl_->where = options.connection != nullptr ? "database (application's connection)"
                 : in_memory                   ? "in-memory database"
                                               : "database " + options.path;
  // Every in-memory connection is a database of its own, so an in-memory store keeps one connection
  // for its whole life; so does a borrowed connection.
  const std::size_t size = (in_memory || options.connection != nullptr) ? 1 : options.pool_size;
  impl_->options = std::move(options);
  Impl* impl = impl_.get();
  impl_->pool = std::make_unique<detail::ConnectionPool<Connection>>(
      size, [impl] { return impl->connect(); }, nullptr, "SQLite " + impl_->where);
}

SqliteAdapter::~SqliteAdapter() = default;

void SqliteAdapter::set_table_name(const std::string& table) {
  validate_sql_identifier(table);
  impl_->sql =
      sql::build(sql::Dialect::sqlite, table, {.placeholders = sql::Placeholders::numbered});
}

void SqliteAdapter::create_table_if_not_exists() {
  auto lease = impl_->pool->acquire();
  // The write lock serializes concurrent creators (waiting up to busy_timeout), and IF NOT EXISTS
  // makes the later ones do nothing.
  for (const auto& text : impl_->sql.create_tables) {
    impl_->exec(lease->db, text.c_str(), "create lock table");
  }
}

namespace {
std::optional<std::int64_t> ms_of(std::optional<Duration> d) {
  if (!d) return std::nullopt;
  return d->count();
}
}  // namespace

bool SqliteAdapter::insert_lock(const std::string& key, const std::string& owner,
                                std::optional<Duration> ttl) {
  return impl_->write(kInsert, "insert lock", {&key, &owner, ms_of(ttl)}) > 0;
}

std::uint64_t SqliteAdapter::acquire_expired_lock(const std::string& key, const std::string& owner,
                                                  std::optional<Duration> ttl) {
  return impl_->write(kTakeOver, "take over expired lock", {&key, &owner, ms_of(ttl)});
}

std::uint64_t SqliteAdapter::delete_lock(const std::string& key,
                                         const std::optional<std::string>& owner) {
  if (owner) return impl_->write(kDeleteOwned, "release lock", {&key, &*owner, std::nullopt});
  return impl_->write(kDelete, "force release lock", {&key, nullptr, std::nullopt});
}

std::uint64_t SqliteAdapter::extend_lock(const std::string& key, const std::string& owner,
                                         Duration duration) {
  return impl_->write(kExtend, "extend lock", {&key, &owner, duration.count()});
}

std::optional<DatabaseLockRow> SqliteAdapter::get_lock(const std::string& key) {
  std::optional<DatabaseLockRow> row;
  impl_->run(kGet, "read lock", {&key, nullptr, std::nullopt}, [&](sqlite3_stmt* st) {
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

bool SqliteAdapter::gives_fencing_tokens() const noexcept { return true; }

std::optional<std::uint64_t> SqliteAdapter::acquire_fenced_lock(const std::string& key,
                                                                const std::string& owner,
                                                                std::optional<Duration> ttl) {
  return impl_->acquire_fenced({&key, &owner, ms_of(ttl)});
}

bool SqliteAdapter::gives_semaphores() const noexcept { return true; }

bool SqliteAdapter::insert_permit(const std::string& key, const std::string& holder,
                                  std::uint32_t limit, std::optional<Duration> ttl) {
  return impl_->insert_permit({&key, &holder, ms_of(ttl), limit});
}

std::uint64_t SqliteAdapter::delete_permit(const std::string& key, const std::string& holder) {
  return impl_->write(kDeletePermit, "release permit", {&key, &holder, std::nullopt});
}

std::uint64_t SqliteAdapter::extend_permit(const std::string& key, const std::string& holder,
                                           Duration duration) {
  return impl_->write(kExtendPermit, "extend permit", {&key, &holder, duration.count()});
}

bool SqliteAdapter::holds_permit(const std::string& key, const std::string& holder) {
  return impl_->count(kPermitHeld, "read permit", {&key, &holder, std::nullopt}) > 0;
}

std::uint32_t SqliteAdapter::count_permits(const std::string& key) {
  return static_cast<std::uint32_t>(
      impl_->count(kCountPermits, "count permits", {&key, nullptr, std::nullopt}));
}

std::vector<HeldLock> SqliteAdapter::list_locks(std::string_view prefix, std::size_t limit) {
  const std::string key(prefix);
  std::vector<HeldLock> held;
  impl_->run(kList, "list locks", {&key, nullptr, std::nullopt}, [&](sqlite3_stmt* st) {
    if (held.size() >= limit) return;
    HeldLock h;
    h.key.assign(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                 static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
    h.owner.assign(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
                   static_cast<std::size_t>(sqlite3_column_bytes(st, 1)));
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
      h.remaining = Duration(std::max<std::int64_t>(0, sqlite3_column_int64(st, 2)));
    }
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
      h.fencing_token = static_cast<std::uint64_t>(sqlite3_column_int64(st, 3));
    }
    held.push_back(std::move(h));
  });
  return held;
}

std::int64_t SqliteAdapter::database_now() {
  std::int64_t now = 0;
  impl_->run(kNowQ, "read clock", {}, [&](sqlite3_stmt* st) { now = sqlite3_column_int64(st, 0); });
  return now;
}

std::shared_ptr<DatabaseStore> make_sqlite_store(SqliteStoreOptions options) {
  return detail::store_over_adapter<SqliteAdapter>(std::move(options));
}

StoreFactory sqlite_store(SqliteStoreOptions options) {
  return detail::store_factory("sqlite", std::move(options), &make_sqlite_store);
}

namespace detail {
namespace {

std::shared_ptr<LockStore> open_sqlite(const Url& url) {
  url.check_params({"table", "pool_size", "busy_timeout", "auto_create_table", "fencing_tokens"});
  SqliteStoreOptions options;
  if (!url.has_authority && url.opaque == ":memory:") {
    options.path = ":memory:";
  } else if (url.has_authority && url.hosts.empty() && url.path.size() > 1 && url.path[0] == '/') {
    options.path = url.path;
  } else {
    throw InvalidArgumentError(
        "invalid SQLite URL: expected sqlite:///absolute/path.db (three "
        "slashes, then the "
        "absolute path) or sqlite::memory:");
  }
  if (auto t = url.param("table")) options.table_name = *t;
  options.pool_size = size_param(url, "pool_size", options.pool_size, 1, 64);
  options.busy_timeout = duration_param(url, "busy_timeout", options.busy_timeout);
  options.auto_create_table = bool_param(url, "auto_create_table", true);
  options.fencing_tokens = bool_param(url, "fencing_tokens", true);
  return make_sqlite_store(std::move(options));
}

}  // namespace

void register_sqlite_driver(DriverRegistry& registry) { registry.add("sqlite", &open_sqlite); }

}  // namespace detail
}  // namespace verrou
