// SPDX-License-Identifier: Apache-2.0
// The SOCI adapter's sessions: opening the store's own, checking idle ones, telling failures that
// did nothing (and can be retried) from the others, and finding the SQL dialect.
#include "drivers/soci/soci_adapter_impl.hpp"

#if defined(VERROU_SOCI_HAVE_SQLITE3)
#include <soci/sqlite3/soci-sqlite3.h>
#endif
#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
#include <soci/postgresql/soci-postgresql.h>
#endif
#if defined(VERROU_SOCI_HAVE_MYSQL)
#include <soci/mysql/soci-mysql.h>
#endif
#if defined(VERROU_SOCI_HAVE_ODBC)
#include <soci/odbc/soci-odbc.h>
#endif

#include <poll.h>

#include <exception>
#include <utility>

#include "drivers/soci/soci_connection_string.hpp"

namespace verrou {
namespace detail {

// A closed connection (server restarted, or it ended the session) reads as EOF. Checked before each
// lease, as the native stores do, so a restart costs no failed operation. Where the backend hides
// its socket (SQLite has none; ODBC), the session is trusted and replaced after its first failure
// instead.
bool idle_session_healthy(soci::session& s) {
  int fd = -1;
  const std::string backend = s.get_backend_name();
#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
  if (backend == "postgresql") {
    // The backend's class has no exported type information: the name says what it is.
    PGconn* conn = static_cast<soci::postgresql_session_backend*>(s.get_backend())->conn_;
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return false;
    fd = PQsocket(conn);
  }
#endif
#if defined(VERROU_SOCI_HAVE_MYSQL)
  if (backend == "mysql") {
    MYSQL* conn = static_cast<soci::mysql_session_backend*>(s.get_backend())->conn_;
    if (conn == nullptr) return false;
    fd = static_cast<int>(mysql_get_socket(conn));
  }
#endif
  if (fd < 0) return true;
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

bool session_connected(soci::session& s) noexcept {
  try {
    return s.is_connected();
  } catch (...) {
    return false;
  }
}

void register_linked_soci_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
  // Any other backend name is left to SOCI's own loader.
#if defined(VERROU_SOCI_HAVE_SQLITE3)
    soci::register_factory_sqlite3();
#endif
#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
    soci::register_factory_postgresql();
#endif
#if defined(VERROU_SOCI_HAVE_MYSQL)
    soci::register_factory_mysql();
#endif
#if defined(VERROU_SOCI_HAVE_ODBC)
    soci::register_factory_odbc();
#endif
  });
}

namespace {

SociDialect dialect_of_backend(std::string_view backend) {
  if (backend == "sqlite3") return SociDialect::sqlite;
  if (backend == "postgresql") return SociDialect::postgresql;
  if (backend == "mysql") return SociDialect::mysql;
  if (backend == "oracle") return SociDialect::oracle;
  if (backend == "firebird") return SociDialect::firebird;
  return SociDialect::automatic;  // not known from the name alone
}

sql::Dialect to_sql(SociDialect d) {
  switch (d) {
    case SociDialect::postgresql:
      return sql::Dialect::postgresql;
    case SociDialect::mysql:
      return sql::Dialect::mysql;
    case SociDialect::sql_server:
      return sql::Dialect::sql_server;
    case SociDialect::oracle:
      return sql::Dialect::oracle;
    case SociDialect::firebird:
      return sql::Dialect::firebird;
    case SociDialect::sqlite:
    case SociDialect::automatic:
      break;
  }
  return sql::Dialect::sqlite;
}

}  // namespace
}  // namespace detail

std::string SociAdapter::Impl::clean(std::string message) const {
  const auto cut = message.find("while executing");
  if (cut != std::string::npos) message.resize(cut);
  for (const auto& secret : secrets) {
    for (auto at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at + 3)) {
      message.replace(at, secret.size(), "***");
    }
  }
  while (!message.empty() &&
         (message.back() == ' ' || message.back() == '\n' || message.back() == '.')) {
    message.pop_back();
  }
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

void SociAdapter::Impl::fail(std::string_view operation, const std::string& cause) const {
  throw LockStorageError("SOCI " + server + ": " + std::string(operation) +
                         " failed: " + clean(cause));
}

std::unique_ptr<detail::OwnSession> SociAdapter::Impl::connect() const {
  detail::register_linked_soci_backends();
  std::string cs = options.connection_string;
  const auto pairs = detail::connection_pairs(cs);
  // Never wait forever on a server that does not answer.
  if (options.backend == "postgresql" && cs.find("connect_timeout") == std::string::npos) {
    if (cs.find("://") != std::string::npos) {
      cs += (cs.find('?') == std::string::npos ? "?" : "&") + std::string("connect_timeout=5");
    } else {
      cs += " connect_timeout=5";
    }
  } else if (options.backend == "mysql") {
    if (!detail::has_key(pairs, "connect_timeout")) cs += " connect_timeout=5";
    if (!detail::has_key(pairs, "read_timeout")) cs += " read_timeout=10";
    if (!detail::has_key(pairs, "write_timeout")) cs += " write_timeout=10";
    if (!detail::has_key(pairs, "charset")) cs += " charset=utf8mb4";
  }
  auto own = std::make_unique<detail::OwnSession>();
  try {
    {
      // Some ODBC drivers are not thread-safe while connecting (psqlODBC calls setlocale, which
      // races with another thread doing the same): ODBC connects take turns.
      static std::mutex odbc_connect;
      std::unique_lock turn(odbc_connect, std::defer_lock);
      if (options.backend == "odbc") turn.lock();
      own->session = std::make_unique<soci::session>(options.backend, cs);
    }
    soci::session* session = own->session.get();
    if (options.backend == "sqlite3") {
      // Writers queue on SQLite's lock for up to 5 s instead of failing at once.
      if (!detail::has_key(pairs, "timeout")) *session << "PRAGMA busy_timeout = 5000";
      if (!in_memory) {
        // As the native SQLite store does: WAL, so readers never block the writer and a commit is
        // one append. A file another process holds busy while switching stays as it is: locks are
        // correct either way, only slower under contention.
        try {
          std::string mode;
          *session << "PRAGMA journal_mode = WAL", soci::into(mode);
        } catch (const std::exception&) {
        }
        *session << "PRAGMA synchronous = NORMAL";
      }
    }
    detail::enable_multi_statements(*own);
  } catch (const std::exception& e) {
    fail("connect", e.what());
  }
  return own;
}

bool SociAdapter::Impl::busy(const std::string& cause) const {
  if (cause.find("Deadlock found when trying to get lock") != std::string::npos ||
      cause.find("deadlock detected") != std::string::npos) {
    return true;
  }
  const auto* s = sql_ptr.load(std::memory_order_acquire);
  const bool sqlite = options.backend == "sqlite3" || options.dialect == SociDialect::sqlite ||
                      (s != nullptr && s->dialect == detail::sql::Dialect::sqlite);
  return sqlite && (cause.find("database is locked") != std::string::npos ||
                    cause.find("database table is locked") != std::string::npos);
}

void SociAdapter::Impl::repair(soci::session& session) noexcept {
  // So the store recovers by itself once the server is back (failures are reported next time).
  if (detail::session_connected(session)) return;
  try {
    session.reconnect();
  } catch (...) {
  }
}

detail::sql::Dialect SociAdapter::Impl::resolve_dialect() {
  if (options.dialect != SociDialect::automatic) return detail::to_sql(options.dialect);
  std::string backend = options.backend;
  if (backend.empty()) {
    backend = with_session("read the session's backend", [](soci::session& s, detail::OwnSession*) {
      return s.get_backend_name();
    });
  }
  if (auto d = detail::dialect_of_backend(backend); d != SociDialect::automatic) {
    return detail::to_sql(d);
  }
  if (backend == "odbc") {
#if defined(VERROU_SOCI_HAVE_ODBC)
    // SOCI's ODBC backend asks the driver for its DBMS name (SQLGetInfo). The backend's class has
    // no exported type information, so no dynamic_cast: the name says what it is.
    const auto product = with_session(
        "ask the ODBC driver for its database", [](soci::session& s, detail::OwnSession*) {
          if (s.get_backend_name() != "odbc") return soci::odbc_session_backend::prod_unknown;
          return static_cast<soci::odbc_session_backend*>(s.get_backend())->get_database_product();
        });
    switch (product) {
      case soci::odbc_session_backend::prod_postgresql:
        return detail::sql::Dialect::postgresql;
      case soci::odbc_session_backend::prod_mysql:
        return detail::sql::Dialect::mysql;
      case soci::odbc_session_backend::prod_sqlite:
        return detail::sql::Dialect::sqlite;
      case soci::odbc_session_backend::prod_mssql:
        return detail::sql::Dialect::sql_server;
      case soci::odbc_session_backend::prod_oracle:
        return detail::sql::Dialect::oracle;
      case soci::odbc_session_backend::prod_firebird:
        return detail::sql::Dialect::firebird;
      default:
        break;
    }
    throw InvalidArgumentError("SOCI " + server +
                               ": the ODBC driver's database is not one "
                               "verrou-cpp writes SQL for; give the dialect "
                               "(SociStoreOptions::dialect, or dialect= in the "
                               "URL): sqlite, postgresql, mysql, "
                               "sqlserver, oracle or firebird");
#else
    throw InvalidArgumentError("SOCI " + server +
                               ": this build cannot ask an ODBC driver for its "
                               "database (verrou-cpp was built without "
                               "SOCI's ODBC headers); give the dialect "
                               "(SociStoreOptions::dialect, or dialect= in the "
                               "URL)");
#endif
  }
  throw InvalidArgumentError("SOCI backend \"" + backend +
                             "\": verrou-cpp does not know its SQL dialect; give it "
                             "(SociStoreOptions::dialect, or dialect= in the URL): sqlite, "
                             "postgresql, mysql, sqlserver, oracle or firebird");
}

const detail::sql::Statements& SociAdapter::Impl::sql() {
  if (const auto* s = sql_ptr.load(std::memory_order_acquire)) return *s;
  std::lock_guard lock(sql_mutex);
  if (const auto* s = sql_ptr.load(std::memory_order_acquire)) return *s;
  namespace sql = detail::sql;
  const sql::Dialect dialect = resolve_dialect();
  sql::BuildOptions build{.placeholders = sql::Placeholders::named};
  if (dialect == sql::Dialect::mysql) {
    // The collation tables are created with depends on the server's exact version; keys need an
    // exact comparison on a table whose key column's collation is not exact (or unknown).
    bool found = false;
    std::string collation;
    with_session("read the key column's collation", [&](soci::session& s, detail::OwnSession*) {
      std::string version;
      s << "SELECT VERSION()", soci::into(version);
      build.mysql_collation = sql::mysql_binary_collation(sql::parse_mysql_version(version));
      soci::indicator ind = soci::i_null;
      const auto query = sql::mysql_key_collation_query(sql::Placeholders::named);
      s << query.text, soci::use(table), soci::into(collation, ind);
      found = s.got_data();
      if (ind != soci::i_ok) collation.clear();
    });
    build.keys = found && sql::mysql_collation_is_exact(collation) ? sql::KeyComparison::exact
                                                                   : sql::KeyComparison::inexact;
  }
  sql_storage.push_back(std::make_unique<const sql::Statements>(sql::build(dialect, table, build)));
  sql_ptr.store(sql_storage.back().get(), std::memory_order_release);
  return *sql_storage.back();
}

void SociAdapter::Impl::forget_statements() {
  std::lock_guard lock(sql_mutex);
  sql_ptr.store(nullptr, std::memory_order_release);
}

}  // namespace verrou
