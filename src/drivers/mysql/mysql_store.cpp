// SPDX-License-Identifier: Apache-2.0
#include <mysql.h>
#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <chrono>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/store_factory.hpp"
#include "detail/store_options.hpp"
#include "detail/url.hpp"
#include "drivers/database/adapter_store.hpp"
#include "drivers/database/dialect.hpp"
#include "drivers/database/pool.hpp"
#include "drivers/mysql/mysql_connection.hpp"
#include "verrou/drivers/mysql.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

namespace sql = detail::sql;
using detail::mysql::Connection;
using detail::mysql::Failure;
using detail::mysql::Outcome;
using detail::mysql::Stmt;
using detail::mysql::Values;

unsigned seconds(Duration d) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((d.count() + 999) / 1000, 1, 86'400));
}

std::optional<std::int64_t> ms_of(std::optional<Duration> d) {
  if (!d) return std::nullopt;
  return d->count();
}

}  // namespace

struct MysqlAdapter::Impl {
  MysqlStoreOptions options;
  std::string server;  // host:port
  std::string table;   // as given
  std::unique_ptr<detail::ConnectionPool<Connection>> pool;
  // The statements, built once the key column's collation is known (it decides whether keys need an
  // exact comparison), so on first use.
  std::mutex sql_mutex;
  std::shared_ptr<const sql::Statements> statements;

  [[noreturn]] void fail(std::string_view operation, const Failure& f) const {
    throw LockStorageError("MySQL " + server + ": " + std::string(operation) +
                           " failed: " + f.message + " (error " + std::to_string(f.code) + ")");
  }

  std::unique_ptr<Connection> connect() const {
    static std::once_flag library;
    std::call_once(library, [] { mysql_library_init(0, nullptr, nullptr); });
    if (options.connection != nullptr) {
      // The application's connection: its session is left as it is (time zone, flags).
      return std::make_unique<Connection>(options.connection, false, options.prepared_statements);
    }
    MYSQL* my = mysql_init(nullptr);
    if (my == nullptr) {
      throw LockStorageError("MySQL " + server + ": connect failed: out of memory");
    }
    const unsigned connect_s = seconds(options.connect_timeout);
    const unsigned io_s = seconds(options.query_timeout);
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &io_s);
    mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    // Multi-statement texts: the fenced acquire is one round trip.
    if (mysql_real_connect(my, options.host.c_str(), options.user.c_str(), options.password.c_str(),
                           options.database.c_str(), options.port, nullptr,
                           CLIENT_MULTI_STATEMENTS) == nullptr) {
      const Failure failed{mysql_errno(my), mysql_error(my)};
      mysql_close(my);
      fail("connect", failed);
    }
    return std::make_unique<Connection>(my, true, options.prepared_statements);
  }

  // An idle connection has nothing to read unless the server closed it.
  static bool healthy(Connection& c) {
    pollfd p{static_cast<int>(mysql_get_socket(c.handle())), POLLIN, 0};
    if (p.fd < 0) return false;
    return poll(&p, 1, 0) == 0;
  }

  // Runs `f(connection)` (which returns an optional Failure) on a leased connection: retries a
  // deadlock victim (the server rolled its transaction back, so it did nothing), after a short
  // random pause that grows with each try, for up to about a second; drops a connection that
  // failed. Clients inserting a key another has just deleted are the usual victims: InnoDB's
  // duplicate check takes a shared lock on the deleted row, and two of them then wait for each
  // other to insert.
  template <class F>
  void with_connection(std::string_view operation, F&& f) {
    thread_local std::minstd_rand jitter(static_cast<std::minstd_rand::result_type>(
        std::hash<std::thread::id>{}(std::this_thread::get_id())));
    auto lease = pool->acquire();
    for (int attempt = 0;; ++attempt) {
      auto failed = f(*lease);
      if (!failed) return;
      if (failed->code == detail::mysql::kDeadlock && attempt < 40) {
        const auto ceiling = static_cast<unsigned>(std::min(50, 1 + 2 * attempt));
        std::this_thread::sleep_for(std::chrono::microseconds(100 * (1 + jitter() % ceiling)));
        continue;
      }
      if (detail::mysql::connection_error(failed->code)) lease.discard();
      fail(operation, *failed);
    }
  }

  const sql::Statements& sql() {
    std::lock_guard lock(sql_mutex);
    if (!statements) statements = build_statements();
    return *statements;
  }

  // Reads the key column's collation: on a table made by another tool with a case-insensitive or
  // PAD SPACE collation, every statement also compares the key's bytes.
  std::shared_ptr<const sql::Statements> build_statements() {
    sql::BuildOptions build{.placeholders = sql::Placeholders::question};
    std::optional<std::string> collation;
    bool found = false;
    with_connection("read the key column's collation", [&](Connection& c) {
      build.mysql_collation =
          sql::mysql_binary_collation(sql::parse_mysql_version(mysql_get_server_info(c.handle())));
      Outcome out;
      const auto query = sql::mysql_key_collation_query(sql::Placeholders::question);
      auto failed = c.run(detail::mysql::kCollation, query, {&table, nullptr, std::nullopt}, out);
      if (!failed && out.row) {
        found = true;
        if (!out.row->empty()) collation = out.row->front();
      }
      return failed;
    });
    // No table yet (it is created later by someone else): compare exactly in any case.
    build.keys = found && sql::mysql_collation_is_exact(collation.value_or(""))
                     ? sql::KeyComparison::exact
                     : sql::KeyComparison::inexact;
    return std::make_shared<const sql::Statements>(sql::build(sql::Dialect::mysql, table, build));
  }

  Outcome run(Stmt kind, const sql::Statement& statement, std::string_view operation,
              const Values& values, bool duplicate_is_zero = false) {
    Outcome out;
    bool duplicate = false;
    with_connection(operation, [&](Connection& c) -> std::optional<Failure> {
      out = {};
      auto failed = c.run(kind, statement, values, out);
      if (failed && duplicate_is_zero && failed->code == detail::mysql::kDuplicateKey) {
        duplicate = true;
        return std::nullopt;
      }
      return failed;
    });
    if (duplicate) out = {};
    return out;
  }
};

MysqlAdapter::MysqlAdapter(MysqlStoreOptions options) : impl_(std::make_unique<Impl>()) {
  const bool borrowed = options.connection != nullptr;
  if (!borrowed && (options.host.empty() || options.database.empty())) {
    throw InvalidArgumentError(
        "MysqlStoreOptions: give host and database "
        "(e.g. mysql://user:pass@host:3306/db), or an "
        "open connection");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("MysqlStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  detail::check_duration("MysqlStoreOptions::connect_timeout", options.connect_timeout);
  detail::check_duration("MysqlStoreOptions::query_timeout", options.query_timeout);
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
  std::lock_guard lock(impl_->sql_mutex);
  impl_->table = table;
  impl_->statements.reset();
}

void MysqlAdapter::create_table_if_not_exists() {
  // MySQL and MariaDB take a metadata lock on the name, so concurrent creators queue and the later
  // ones find the table. The collation depends on the server's version.
  auto& impl = *impl_;
  impl.with_connection("create lock table", [&](Connection& c) -> std::optional<Failure> {
    const auto version = sql::parse_mysql_version(mysql_get_server_info(c.handle()));
    const auto creating = sql::build(sql::Dialect::mysql, impl.table,
                                     {.mysql_collation = sql::mysql_binary_collation(version)});
    for (const auto& text : creating.create_tables) {
      if (auto failed = c.execute(text)) return failed;
    }
    return std::nullopt;
  });
  std::lock_guard lock(impl.sql_mutex);
  impl.statements.reset();  // read the collation of the table as it now is
}

bool MysqlAdapter::insert_lock(const std::string& key, const std::string& owner,
                               std::optional<Duration> ttl) {
  // A duplicate key means the row exists: 0 rows.
  const auto& s = impl_->sql();
  return impl_
             ->run(detail::mysql::kInsert, s.insert, "insert lock", {&key, &owner, ms_of(ttl)},
                   true)
             .affected > 0;
}

std::uint64_t MysqlAdapter::acquire_expired_lock(const std::string& key, const std::string& owner,
                                                 std::optional<Duration> ttl) {
  const auto& s = impl_->sql();
  return impl_
      ->run(detail::mysql::kTakeOver, s.take_over, "take over expired lock",
            {&key, &owner, ms_of(ttl)})
      .affected;
}

std::uint64_t MysqlAdapter::delete_lock(const std::string& key,
                                        const std::optional<std::string>& owner) {
  const auto& s = impl_->sql();
  if (owner) {
    return impl_
        ->run(detail::mysql::kDeleteOwned, s.remove_owned, "release lock",
              {&key, &*owner, std::nullopt})
        .affected;
  }
  return impl_
      ->run(detail::mysql::kDelete, s.remove, "force release lock", {&key, nullptr, std::nullopt})
      .affected;
}

std::uint64_t MysqlAdapter::extend_lock(const std::string& key, const std::string& owner,
                                        Duration duration) {
  const auto& s = impl_->sql();
  return impl_
      ->run(detail::mysql::kExtend, s.extend, "extend lock", {&key, &owner, duration.count()})
      .affected;
}

std::optional<DatabaseLockRow> MysqlAdapter::get_lock(const std::string& key) {
  const auto& s = impl_->sql();
  auto out = impl_->run(detail::mysql::kGet, s.get, "read lock", {&key, nullptr, std::nullopt});
  if (!out.row || out.row->size() < 3 || !(*out.row)[0]) return std::nullopt;
  const auto& row = *out.row;
  DatabaseLockRow r;
  r.owner = *row[0];
  if (row[1]) r.expiration = std::stoll(*row[1]);
  r.expired = row[2] && *row[2] == "1";
  return r;
}

bool MysqlAdapter::gives_fencing_tokens() const noexcept { return true; }

std::optional<std::uint64_t> MysqlAdapter::acquire_fenced_lock(const std::string& key,
                                                               const std::string& owner,
                                                               std::optional<Duration> ttl) {
  auto& impl = *impl_;
  const auto& s = impl.sql();
  std::optional<std::uint64_t> token;
  impl.with_connection("acquire lock", [&](Connection& c) {
    return c.acquire_fenced(s, {&key, &owner, ms_of(ttl)}, token);
  });
  return token;
}

bool MysqlAdapter::gives_semaphores() const noexcept { return true; }

bool MysqlAdapter::insert_permit(const std::string& key, const std::string& holder,
                                 std::uint32_t limit, std::optional<Duration> ttl) {
  auto& impl = *impl_;
  const auto& s = impl.sql();
  bool admitted = false;
  impl.with_connection("acquire permit", [&](Connection& c) {
    return c.insert_permit(s, {&key, &holder, ms_of(ttl), limit}, admitted);
  });
  return admitted;
}

std::uint64_t MysqlAdapter::delete_permit(const std::string& key, const std::string& holder) {
  const auto& s = impl_->sql();
  return impl_->run(detail::mysql::kDeletePermit, s.delete_permit, "release permit",
                    {&key, &holder, std::nullopt})
      .affected;
}

std::uint64_t MysqlAdapter::extend_permit(const std::string& key, const std::string& holder,
                                          Duration duration) {
  const auto& s = impl_->sql();
  return impl_->run(detail::mysql::kExtendPermit, s.extend_permit, "extend permit",
                    {&key, &holder, duration.count()})
      .affected;
}

namespace {
std::int64_t first_number(const Outcome& out) {
  if (!out.row || out.row->empty() || !out.row->front()) return 0;
  return std::stoll(*out.row->front());
}
}  // namespace

bool MysqlAdapter::holds_permit(const std::string& key, const std::string& holder) {
  const auto& s = impl_->sql();
  return first_number(impl_->run(detail::mysql::kPermitHeld, s.permit_held, "read permit",
                                 {&key, &holder, std::nullopt})) > 0;
}

std::uint32_t MysqlAdapter::count_permits(const std::string& key) {
  const auto& s = impl_->sql();
  return static_cast<std::uint32_t>(first_number(impl_->run(
      detail::mysql::kCountPermits, s.count_permits, "count permits", {&key, nullptr, std::nullopt})));
}

std::vector<HeldLock> MysqlAdapter::list_locks(std::string_view prefix, std::size_t limit) {
  const auto& s = impl_->sql();
  const std::string key(prefix);
  const auto most = std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max());
  const std::string suffix = " LIMIT " + std::to_string(most);
  std::vector<std::vector<std::optional<std::string>>> rows;
  impl_->with_connection("list locks", [&](Connection& c) {
    rows.clear();
    return c.query_rows(s.list, {&key, nullptr, std::nullopt}, suffix, rows);
  });
  std::vector<HeldLock> held;
  for (const auto& row : rows) {
    if (row.size() < 4 || !row[0] || !row[1]) continue;
    HeldLock h{.key = *row[0], .owner = *row[1]};
    if (row[2]) h.remaining = Duration(std::max<std::int64_t>(0, std::stoll(*row[2])));
    if (row[3]) h.fencing_token = std::stoull(*row[3]);
    held.push_back(std::move(h));
  }
  return held;
}

std::int64_t MysqlAdapter::database_now() {
  const auto& s = impl_->sql();
  auto out = impl_->run(detail::mysql::kNow, s.now_query, "read clock", {});
  if (!out.row || out.row->empty() || !out.row->front()) {
    throw LockStorageError("MySQL " + impl_->server + ": read clock failed: no row");
  }
  return std::stoll(*out.row->front());
}

const std::string& MysqlAdapter::server() const { return impl_->server; }

std::shared_ptr<DatabaseStore> make_mysql_store(MysqlStoreOptions options) {
  return detail::store_over_adapter<MysqlAdapter>(std::move(options));
}

StoreFactory mysql_store(MysqlStoreOptions options) {
  return detail::store_factory("mysql", std::move(options), &make_mysql_store);
}

namespace detail {
namespace {

std::shared_ptr<LockStore> open_mysql(const Url& url) {
  url.check_params({"table", "pool_size", "connect_timeout", "query_timeout", "auto_create_table",
                    "fencing_tokens", "prepared_statements"});
  if (!url.has_authority || url.hosts.size() != 1 || url.path.size() < 2) {
    throw InvalidArgumentError(
        "invalid MySQL URL: expected mysql://user:password@host:port/database "
        "(one host, and "
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
  options.fencing_tokens = bool_param(url, "fencing_tokens", true);
  options.prepared_statements = bool_param(url, "prepared_statements", true);
  return make_mysql_store(std::move(options));
}

}  // namespace

void register_mysql_driver(DriverRegistry& registry) {
  registry.add("mysql", &open_mysql);
  registry.add("mariadb", &open_mysql);
}

}  // namespace detail
}  // namespace verrou
