// SPDX-License-Identifier: Apache-2.0
// The SOCI store: the adapter's members and its URL. Sessions are in soci_session.cpp, the
// statements' execution in soci_statements.cpp, and the SQL itself in the dialect layer
// (drivers/database/dialect.hpp), shared with the native SQL stores.
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/store_factory.hpp"
#include "detail/store_options.hpp"
#include "detail/text.hpp"
#include "detail/url.hpp"
#include "drivers/database/adapter_store.hpp"
#include "drivers/soci/soci_adapter_impl.hpp"
#include "drivers/soci/soci_connection_string.hpp"
#include "verrou/drivers/soci.hpp"

namespace verrou {
namespace {

namespace sql = detail::sql;

std::optional<long long> ms_of(std::optional<Duration> d) {
  if (!d) return std::nullopt;
  return d->count();
}

}  // namespace

std::string_view to_string(SociDialect dialect) {
  switch (dialect) {
    case SociDialect::automatic:
      return "auto";
    case SociDialect::sqlite:
      return "sqlite";
    case SociDialect::postgresql:
      return "postgresql";
    case SociDialect::mysql:
      return "mysql";
    case SociDialect::sql_server:
      return "sqlserver";
    case SociDialect::oracle:
      return "oracle";
    case SociDialect::firebird:
      return "firebird";
  }
  return "auto";
}

SociDialect parse_soci_dialect(std::string_view name) {
  const std::string n = detail::ascii_lower(name);
  if (n == "auto" || n == "automatic") return SociDialect::automatic;
  if (n == "sqlite" || n == "sqlite3") return SociDialect::sqlite;
  if (n == "postgresql" || n == "postgres") return SociDialect::postgresql;
  if (n == "mysql" || n == "mariadb") return SociDialect::mysql;
  if (n == "sqlserver" || n == "mssql" || n == "sql_server") return SociDialect::sql_server;
  if (n == "oracle") return SociDialect::oracle;
  if (n == "firebird") return SociDialect::firebird;
  throw InvalidArgumentError("unknown SQL dialect \"" + std::string(name.substr(0, 40)) +
                             "\"; use auto, sqlite, postgresql, mysql, sqlserver, oracle or "
                             "firebird");
}

SociAdapter::SociAdapter(SociStoreOptions options) : impl_(std::make_unique<Impl>()) {
  const int given = (options.connection_string.empty() ? 0 : 1) + (options.pool ? 1 : 0) +
                    (options.session != nullptr ? 1 : 0);
  if (given != 1) {
    throw InvalidArgumentError(
        "SociStoreOptions: give exactly one of "
        "connection_string (with backend), pool or "
        "session" +
        std::string(given == 0 ? " (none was given)" : " (several were given)"));
  }
  if (!options.connection_string.empty() && options.backend.empty()) {
    throw InvalidArgumentError(
        "SociStoreOptions::backend is empty; name "
        "SOCI's backend for the connection string: "
        "sqlite3, postgresql, mysql, odbc, firebird, …");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("SociStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  detail::check_duration("SociStoreOptions::wait_timeout", options.wait_timeout);
  options.backend = detail::ascii_lower(options.backend);
  auto& impl = *impl_;
  if (!options.connection_string.empty()) {
    impl.server = detail::describe_soci_server(options.backend, options.connection_string);
    impl.secrets = detail::soci_secrets(options.connection_string);
  } else {
    impl.server = (options.backend.empty() ? std::string() : options.backend + " ") +
                  (options.pool ? "(application's pool)" : "(application's session)");
  }
  const bool in_memory = options.backend == "sqlite3" &&
                         (options.connection_string.find(":memory:") != std::string::npos ||
                          options.connection_string.find("mode=memory") != std::string::npos);
  impl.options = std::move(options);
  impl.in_memory = in_memory;
  if (!impl.options.connection_string.empty()) {
    Impl* self = impl_.get();
    // Each in-memory SQLite connection is a database of its own: keep just one.
    impl.own_pool = std::make_unique<detail::ConnectionPool<detail::OwnSession>>(
        in_memory ? 1 : impl.options.pool_size, [self] { return self->connect(); },
        [](detail::OwnSession& own) { return detail::idle_session_healthy(*own.session); },
        "SOCI " + impl.server,
        std::chrono::duration_cast<std::chrono::milliseconds>(impl.options.wait_timeout));
  }
}

SociAdapter::~SociAdapter() = default;

void SociAdapter::set_table_name(const std::string& table) {
  validate_sql_identifier(table);
  std::lock_guard lock(impl_->sql_mutex);
  impl_->table = table;
  impl_->sql_ptr.store(nullptr, std::memory_order_release);
}

void SociAdapter::create_table_if_not_exists() {
  auto& impl = *impl_;
  const auto& s = impl.sql();
  try {
    impl.with_session("create lock table", [&](soci::session& session, detail::OwnSession*) {
      if (s.dialect == sql::Dialect::postgresql) {
        // Creators take turns on the dialect's advisory lock, as the native store's do.
        soci::transaction tr(session);
        // No "already exists" notice on the session's output (for this transaction only).
        session << "SET LOCAL client_min_messages = warning";
        session << s.create_lock;
        for (const auto& text : s.create_tables) session << text;
        tr.commit();
        return;
      }
      // SQLite's write lock and MySQL's metadata lock serialize creators themselves.
      impl.committed(session, [&] {
        for (const auto& text : s.create_tables) session << text;
        return true;
      });
    });
  } catch (const LockStorageError&) {
    // Whatever the database, a creator that lost a race fails only because the table is now there:
    // then all is well.
    const std::exception_ptr original = std::current_exception();
    try {
      impl.with_session("check lock table",
                        [&](soci::session& session, detail::OwnSession*) { session << s.probe; });
    } catch (const LockStorageError&) {
      std::rethrow_exception(original);
    }
  }
  // MySQL: read the key column's collation of the table as it now is.
  if (s.dialect == sql::Dialect::mysql) impl.forget_statements();
}

std::uint64_t SociAdapter::Impl::run_one(std::string_view operation, detail::SociStmt kind,
                                         const sql::Statement& (*pick)(const sql::Statements&),
                                         const std::string& key, const std::string* owner,
                                         std::optional<long long> ms) {
  const auto& s = sql();
  return with_session(operation, [&](soci::session& session, detail::OwnSession* own) {
    return committed(session, [&] {
      detail::SociExchange x;
      x.key = key;
      if (owner != nullptr) x.owner = *owner;
      x.set_ms(ms);
      return detail::run_soci(session, own, s, kind, pick(s), x).rows;
    });
  });
}

bool SociAdapter::insert_lock(const std::string& key, const std::string& owner,
                              std::optional<Duration> ttl) {
  auto& impl = *impl_;
  const auto& s = impl.sql();
  return impl.with_session("insert lock", [&](soci::session& session, detail::OwnSession* own) {
    return impl.committed(session, [&] {
      detail::SociExchange x;
      x.key = key;
      x.owner = owner;
      x.set_ms(ms_of(ttl));
      try {
        return detail::run_soci(session, own, s, detail::kSociInsert, s.insert, x).rows > 0;
      } catch (const soci::soci_error& e) {
        // A plain INSERT (MySQL, Oracle, Firebird; SQL Server in a race) reports an existing row as
        // a duplicate key: the answer "taken". Only that: a value the column cannot hold fails as
        // itself, never as a silently changed key.
        if (detail::is_duplicate_key(e)) return false;
        throw;
      }
    });
  });
}

std::uint64_t SociAdapter::acquire_expired_lock(const std::string& key, const std::string& owner,
                                                std::optional<Duration> ttl) {
  return impl_->run_one(
      "take over expired lock", detail::kSociTakeOver,
      [](const sql::Statements& st) -> const sql::Statement& { return st.take_over; }, key, &owner,
      ms_of(ttl));
}

std::uint64_t SociAdapter::delete_lock(const std::string& key,
                                       const std::optional<std::string>& owner) {
  if (owner) {
    return impl_->run_one(
        "release lock", detail::kSociRemoveOwned,
        [](const sql::Statements& st) -> const sql::Statement& { return st.remove_owned; }, key,
        &*owner, std::nullopt);
  }
  return impl_->run_one(
      "force release lock", detail::kSociRemove,
      [](const sql::Statements& st) -> const sql::Statement& { return st.remove; }, key, nullptr,
      std::nullopt);
}

std::uint64_t SociAdapter::extend_lock(const std::string& key, const std::string& owner,
                                       Duration duration) {
  // MySQL counts changed rows unless the client asked for found rows: an extend writing the
  // expiration already there reports 0, and DatabaseStore reads the row back.
  return impl_->run_one(
      "extend lock", detail::kSociExtend,
      [](const sql::Statements& st) -> const sql::Statement& { return st.extend; }, key, &owner,
      duration.count());
}

std::optional<DatabaseLockRow> SociAdapter::get_lock(const std::string& key) {
  return impl_->read(key);
}

bool SociAdapter::gives_fencing_tokens() const noexcept { return true; }

std::optional<std::uint64_t> SociAdapter::acquire_fenced_lock(const std::string& key,
                                                              const std::string& owner,
                                                              std::optional<Duration> ttl) {
  return impl_->acquire_fenced(key, owner, ttl);
}

bool SociAdapter::gives_semaphores() const noexcept { return true; }

bool SociAdapter::insert_permit(const std::string& key, const std::string& holder,
                                std::uint32_t limit, std::optional<Duration> ttl) {
  return impl_->insert_permit(key, holder, limit, ttl);
}

std::uint64_t SociAdapter::delete_permit(const std::string& key, const std::string& holder) {
  return impl_->run_one(
      "release permit", detail::kSociDeletePermit,
      [](const sql::Statements& st) -> const sql::Statement& { return st.delete_permit; }, key,
      &holder, std::nullopt);
}

std::uint64_t SociAdapter::extend_permit(const std::string& key, const std::string& holder,
                                         Duration duration) {
  return impl_->run_one(
      "extend permit", detail::kSociExtendPermit,
      [](const sql::Statements& st) -> const sql::Statement& { return st.extend_permit; }, key,
      &holder, duration.count());
}

bool SociAdapter::holds_permit(const std::string& key, const std::string& holder) {
  return impl_->number(
             "read permit", detail::kSociPermitHeld,
             [](const sql::Statements& st) -> const sql::Statement& { return st.permit_held; },
             key, &holder) > 0;
}

std::uint32_t SociAdapter::count_permits(const std::string& key) {
  return static_cast<std::uint32_t>(impl_->number(
      "count permits", detail::kSociCountPermits,
      [](const sql::Statements& st) -> const sql::Statement& { return st.count_permits; }, key,
      nullptr));
}

SociDialect SociAdapter::dialect() {
  switch (impl_->sql().dialect) {
    case sql::Dialect::sqlite:
      return SociDialect::sqlite;
    case sql::Dialect::postgresql:
      return SociDialect::postgresql;
    case sql::Dialect::mysql:
      return SociDialect::mysql;
    case sql::Dialect::sql_server:
      return SociDialect::sql_server;
    case sql::Dialect::oracle:
      return SociDialect::oracle;
    case sql::Dialect::firebird:
      return SociDialect::firebird;
  }
  return SociDialect::automatic;
}

std::int64_t SociAdapter::database_now() {
  auto& impl = *impl_;
  const auto& s = impl.sql();
  return impl.with_session("read clock", [&](soci::session& session, detail::OwnSession* own) {
    return impl.committed(session, [&] {
      detail::SociExchange x;
      detail::run_soci(session, own, s, detail::kSociNow, s.now_query, x);
      return static_cast<std::int64_t>(x.number_ind == soci::i_ok ? x.number : 0);
    });
  });
}

const std::string& SociAdapter::server() const { return impl_->server; }

std::shared_ptr<DatabaseStore> make_soci_store(SociStoreOptions options) {
  return detail::store_over_adapter<SociAdapter>(std::move(options));
}

StoreFactory soci_store(SociStoreOptions options) {
  return detail::store_factory("soci", std::move(options), &make_soci_store);
}

namespace detail {
namespace {

std::shared_ptr<LockStore> open_soci(const Url& url) {
  url.check_params(
      {"dialect", "table", "pool_size", "wait_timeout", "auto_create_table", "fencing_tokens"});
  const char* expected =
      "invalid SOCI URL: expected "
      "soci://[user[:password]@]<backend>/<connection string>, the "
      "connection string percent-encoded (space %20), e.g. "
      "soci://app:secret@postgresql/host=db%20dbname=app or "
      "soci://sqlite3//var/lib/locks.db";
  if (!url.has_authority || url.hosts.size() != 1 || url.hosts[0].port) {
    throw InvalidArgumentError(expected);
  }
  SociStoreOptions options;
  options.backend = ascii_lower(url.hosts[0].host);
  options.connection_string = url.path.size() > 1 ? url.path.substr(1) : std::string();
  if (options.connection_string.empty()) {
    throw InvalidArgumentError(std::string(expected) + " (the connection string is empty)");
  }
  if (url.username || url.password) {
    options.connection_string = with_soci_credentials(options.backend, options.connection_string,
                                                      url.username, url.password);
  }
  if (auto d = url.param("dialect")) options.dialect = parse_soci_dialect(*d);
  if (auto t = url.param("table")) options.table_name = *t;
  options.pool_size = size_param(url, "pool_size", options.pool_size, 1, 64);
  options.wait_timeout = duration_param(url, "wait_timeout", options.wait_timeout);
  options.auto_create_table = bool_param(url, "auto_create_table", true);
  options.fencing_tokens = bool_param(url, "fencing_tokens", true);
  return make_soci_store(std::move(options));
}

}  // namespace

void register_soci_driver(DriverRegistry& registry) { registry.add("soci", &open_soci); }

}  // namespace detail
}  // namespace verrou
