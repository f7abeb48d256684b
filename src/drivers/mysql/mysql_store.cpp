// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/mysql.hpp"

#include <mysql.h>
#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/url.hpp"
#include "drivers/database/options.hpp"
#include "drivers/database/pool.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

// Epoch milliseconds by the server's clock. The session time zone is UTC (set on connect),
// so the conversion has no daylight-saving ambiguity.
constexpr const char* kNow = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

constexpr unsigned kDuplicateKey = 1062;  // ER_DUP_ENTRY
constexpr unsigned kDeadlock = 1213;      // ER_LOCK_DEADLOCK: the statement was rolled back

struct Connection {
  MYSQL* my = nullptr;
  bool owned = true;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (owned && my != nullptr) mysql_close(my);
  }
};

struct ResultDeleter {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
using Result = std::unique_ptr<MYSQL_RES, ResultDeleter>;

unsigned seconds(Duration d) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((d.count() + 999) / 1000, 1, 86'400));
}

// The client library's error numbers (2000 and up) mean the connection itself failed.
bool connection_error(unsigned code) { return code >= 2000 && code < 3000; }

}  // namespace

struct MysqlAdapter::Impl {
  MysqlStoreOptions options;
  std::string server;  // host:port
  std::string table;   // quoted
  std::unique_ptr<detail::ConnectionPool<Connection>> pool;

  [[noreturn]] void fail(std::string_view operation, MYSQL* my) const {
    throw LockStorageError("MySQL " + server + ": " + std::string(operation) + " failed: " +
                           mysql_error(my) + " (error " + std::to_string(mysql_errno(my)) + ")");
  }

  void setup_session(MYSQL* my) const {
    const char* sql = "SET time_zone = '+00:00'";
    if (mysql_real_query(my, sql, std::char_traits<char>::length(sql)) != 0) fail("connect", my);
  }

  std::unique_ptr<Connection> connect() const {
    static std::once_flag library;
    std::call_once(library, [] { mysql_library_init(0, nullptr, nullptr); });
    auto conn = std::make_unique<Connection>();
    if (options.connection != nullptr) {
      conn->my = options.connection;
      conn->owned = false;
      setup_session(conn->my);
      return conn;
    }
    conn->my = mysql_init(nullptr);
    if (conn->my == nullptr) {
      throw LockStorageError("MySQL " + server + ": connect failed: out of memory");
    }
    const unsigned connect_s = seconds(options.connect_timeout);
    const unsigned io_s = seconds(options.query_timeout);
    mysql_options(conn->my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_options(conn->my, MYSQL_OPT_READ_TIMEOUT, &io_s);
    mysql_options(conn->my, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
    mysql_options(conn->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    // Found rows, not changed rows: an extend that sets the same expiration still counts.
    if (mysql_real_connect(conn->my, options.host.c_str(), options.user.c_str(),
                           options.password.c_str(), options.database.c_str(), options.port,
                           nullptr, CLIENT_FOUND_ROWS) == nullptr) {
      fail("connect", conn->my);
    }
    setup_session(conn->my);
    return conn;
  }

  // An idle connection has nothing to read unless the server closed it.
  static bool healthy(Connection& c) {
    pollfd p{static_cast<int>(mysql_get_socket(c.my)), POLLIN, 0};
    if (p.fd < 0) return false;
    return poll(&p, 1, 0) == 0;
  }

  std::string quote(MYSQL* my, const std::string& s) const {
    std::string out(s.size() * 2 + 3, '\0');
    out[0] = '\'';
    const auto n = mysql_real_escape_string(my, out.data() + 1, s.data(), s.size());
    out.resize(n + 1);
    out += '\'';
    return out;
  }

  // Runs one statement built by `build(MYSQL*)` (which quotes values for that connection).
  // Returns affected rows, and the result set when `want_rows`.
  template <class Build>
  std::uint64_t run(std::string_view operation, Build&& build, Result* rows = nullptr) {
    auto lease = pool->acquire();
    MYSQL* my = lease->my;
    const std::string sql = build(my);
    for (int attempt = 0;; ++attempt) {
      if (mysql_real_query(my, sql.data(), sql.size()) == 0) break;
      const unsigned code = mysql_errno(my);
      if (code == kDeadlock && attempt < 3) continue;
      if (code == kDuplicateKey) return 0;
      if (connection_error(code)) {
        const std::string cause = std::string(mysql_error(my)) + " (error " + std::to_string(code) + ")";
        lease.discard();
        throw LockStorageError("MySQL " + server + ": " + std::string(operation) +
                               " failed: " + cause);
      }
      fail(operation, my);
    }
    if (rows != nullptr) {
      rows->reset(mysql_store_result(my));
      if (!*rows && mysql_errno(my) != 0) {
        const std::string cause = mysql_error(my);
        lease.discard();
        throw LockStorageError("MySQL " + server + ": " + std::string(operation) +
                               " failed: " + cause);
      }
      return 0;
    }
    return mysql_affected_rows(my);
  }

  std::string live() const {
    return std::string("(`expiration` IS NULL OR `expiration` > ") + kNow + ")";
  }
};

MysqlAdapter::MysqlAdapter(MysqlStoreOptions options) : impl_(std::make_unique<Impl>()) {
  const bool borrowed = options.connection != nullptr;
  if (!borrowed && (options.host.empty() || options.database.empty())) {
    throw InvalidArgumentError(
        "MysqlStoreOptions: give host and database (e.g. mysql://user:pass@host:3306/db), or an "
        "open connection");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("MysqlStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  if (options.connect_timeout <= Duration::zero() || options.query_timeout <= Duration::zero()) {
    throw InvalidArgumentError(
        "MysqlStoreOptions: connect_timeout and query_timeout must be above zero");
  }
  impl_->server = borrowed ? std::string("(application's connection)")
                           : options.host + ":" + std::to_string(options.port);
  impl_->options = std::move(options);
  Impl* impl = impl_.get();
  impl_->pool = std::make_unique<detail::ConnectionPool<Connection>>(
      borrowed ? 1 : impl_->options.pool_size, [impl] { return impl->connect(); },
      borrowed ? detail::ConnectionPool<Connection>::Healthy{} : &Impl::healthy,
      "MySQL " + impl_->server, impl_->options.query_timeout * 3);
}

MysqlAdapter::~MysqlAdapter() = default;

void MysqlAdapter::set_table_name(const std::string& table) {
  validate_sql_identifier(table);
  impl_->table = quote_sql_identifier(table, '`');
}

void MysqlAdapter::create_table_if_not_exists() {
  // MySQL and MariaDB take a metadata lock on the name, so concurrent creators queue and the
  // later ones find the table. Keys compare byte for byte: a binary collation (case and
  // accents matter) that does not pad (so "k" and "k " are two keys).
  impl_->run("create lock table", [&](MYSQL* my) {
    const std::string info = mysql_get_server_info(my);
    const char* collation = info.find("MariaDB") != std::string::npos ? "utf8mb4_nopad_bin"
                            : mysql_get_server_version(my) >= 80000 ? "utf8mb4_0900_bin"
                                                                    : "utf8mb4_bin";
    return "CREATE TABLE IF NOT EXISTS " + impl_->table +
           " (`key` varchar(255) NOT NULL, `owner` varchar(255) NOT NULL, `expiration` bigint "
           "NULL, PRIMARY KEY (`key`)) CHARACTER SET utf8mb4 COLLATE " +
           collation;
  });
}

namespace {
std::string ms_or_null(std::optional<Duration> d) {
  return d ? std::to_string(d->count()) : std::string("NULL");
}
}  // namespace

bool MysqlAdapter::insert_lock(const std::string& key, const std::string& owner,
                               std::optional<Duration> ttl) {
  // A duplicate key means the row exists: run() turns that error into 0 rows.
  return impl_->run("insert lock", [&](MYSQL* my) {
    return "INSERT INTO " + impl_->table + " (`key`, `owner`, `expiration`) VALUES (" +
           impl_->quote(my, key) + ", " + impl_->quote(my, owner) + ", " + ms_or_null(ttl) +
           " + " + kNow + ")";
  }) > 0;
}

std::uint64_t MysqlAdapter::acquire_expired_lock(const std::string& key, const std::string& owner,
                                                 std::optional<Duration> ttl) {
  return impl_->run("take over expired lock", [&](MYSQL* my) {
    return "UPDATE " + impl_->table + " SET `owner` = " + impl_->quote(my, owner) +
           ", `expiration` = " + ms_or_null(ttl) + " + " + kNow + " WHERE `key` = " +
           impl_->quote(my, key) + " AND `expiration` IS NOT NULL AND `expiration` <= " + kNow;
  });
}

std::uint64_t MysqlAdapter::delete_lock(const std::string& key,
                                        const std::optional<std::string>& owner) {
  return impl_->run(owner ? "release lock" : "force release lock", [&](MYSQL* my) {
    std::string sql = "DELETE FROM " + impl_->table + " WHERE `key` = " + impl_->quote(my, key);
    if (owner) sql += " AND `owner` = " + impl_->quote(my, *owner) + " AND " + impl_->live();
    return sql;
  });
}

std::uint64_t MysqlAdapter::extend_lock(const std::string& key, const std::string& owner,
                                        Duration duration) {
  return impl_->run("extend lock", [&](MYSQL* my) {
    return "UPDATE " + impl_->table + " SET `expiration` = " + std::to_string(duration.count()) +
           " + " + kNow + " WHERE `key` = " + impl_->quote(my, key) +
           " AND `owner` = " + impl_->quote(my, owner) + " AND " + impl_->live();
  });
}

std::optional<DatabaseLockRow> MysqlAdapter::get_lock(const std::string& key) {
  Result rows;
  impl_->run(
      "read lock",
      [&](MYSQL* my) {
        return "SELECT `owner`, `expiration`, `expiration` IS NOT NULL AND `expiration` <= " +
               std::string(kNow) + " FROM " + impl_->table + " WHERE `key` = " +
               impl_->quote(my, key);
      },
      &rows);
  MYSQL_ROW row = rows ? mysql_fetch_row(rows.get()) : nullptr;
  if (row == nullptr) return std::nullopt;
  const unsigned long* lengths = mysql_fetch_lengths(rows.get());
  DatabaseLockRow out;
  out.owner.assign(row[0], lengths[0]);
  if (row[1] != nullptr) out.expiration = std::stoll(row[1]);
  out.expired = row[2] != nullptr && row[2][0] == '1';
  return out;
}

std::int64_t MysqlAdapter::database_now() {
  Result rows;
  impl_->run("read clock", [&](MYSQL*) { return std::string("SELECT ") + kNow; }, &rows);
  MYSQL_ROW row = rows ? mysql_fetch_row(rows.get()) : nullptr;
  if (row == nullptr || row[0] == nullptr) {
    throw LockStorageError("MySQL " + impl_->server + ": read clock failed: no row");
  }
  return std::stoll(row[0]);
}

const std::string& MysqlAdapter::server() const { return impl_->server; }

std::shared_ptr<DatabaseStore> make_mysql_store(MysqlStoreOptions options) {
  auto table = options.table_name;
  const bool create = options.auto_create_table;
  return std::make_shared<DatabaseStore>(DatabaseStoreOptions{
      .adapter = std::make_shared<MysqlAdapter>(std::move(options)),
      .table_name = std::move(table),
      .auto_create_table = create,
  });
}

StoreFactory mysql_store(MysqlStoreOptions options) {
  return StoreFactory{.driver = "mysql",
                      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
                        return make_mysql_store(options);
                      }};
}

namespace detail {
namespace {

std::shared_ptr<LockStore> open_mysql(const Url& url) {
  url.check_params({"table", "pool_size", "connect_timeout", "query_timeout", "auto_create_table"});
  if (!url.has_authority || url.hosts.size() != 1 || url.path.size() < 2) {
    throw InvalidArgumentError(
        "invalid MySQL URL: expected mysql://user:password@host:port/database (one host, and "
        "the database after the slash)");
  }
  MysqlStoreOptions options;
  options.host = url.hosts[0].host;
  options.port = url.hosts[0].port.value_or(3306);
  options.user = url.username.value_or("");
  options.password = url.password.value_or("");
  options.database = url.path.substr(1);
  if (auto t = url.param("table")) options.table_name = *t;
  options.pool_size = size_param(url, "pool_size", options.pool_size, 1, 64);
  options.connect_timeout = duration_param(url, "connect_timeout", options.connect_timeout);
  options.query_timeout = duration_param(url, "query_timeout", options.query_timeout);
  options.auto_create_table = bool_param(url, "auto_create_table", true);
  return make_mysql_store(std::move(options));
}

}  // namespace

void register_mysql_driver(DriverRegistry& registry) {
  registry.add("mysql", &open_mysql);
  registry.add("mariadb", &open_mysql);
}

}  // namespace detail
}  // namespace verrou
