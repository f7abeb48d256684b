// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/soci.hpp"

// clang-format off
#include "drivers/soci/soci_includes.hpp"
// clang-format on
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

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "detail/driver_registry.hpp"
#include "detail/url.hpp"
#include "drivers/database/options.hpp"
#include "drivers/database/pool.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

// ---------------------------------------------------------------------------------------------
// Connection strings: read only for messages (server, never the password) and defaults.

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The key=value pairs of a SOCI connection string, keys in lower case. Pairs are separated
// by spaces (libpq, MySQL, SQLite, Firebird style) or ';' (ODBC); values may be quoted with
// '…' or {…}. Good enough to find a host, a port, a database or a password for messages.
std::vector<std::pair<std::string, std::string>> connection_pairs(std::string_view cs) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  auto skip_separators = [&] {
    while (i < cs.size() && (cs[i] == ' ' || cs[i] == ';' || cs[i] == '\t')) ++i;
  };
  skip_separators();
  while (i < cs.size()) {
    std::size_t start = i;
    while (i < cs.size() && cs[i] != '=' && cs[i] != ' ' && cs[i] != ';') ++i;
    std::string key = lower(cs.substr(start, i - start));
    std::string value;
    if (i < cs.size() && cs[i] == '=') {
      ++i;
      if (i < cs.size() && (cs[i] == '\'' || cs[i] == '{')) {
        const char close = cs[i] == '{' ? '}' : '\'';
        ++i;
        while (i < cs.size() && cs[i] != close) {
          if (cs[i] == '\\' && close == '\'' && i + 1 < cs.size()) ++i;
          value += cs[i++];
        }
        if (i < cs.size()) ++i;
      } else {
        start = i;
        while (i < cs.size() && cs[i] != ' ' && cs[i] != ';') ++i;
        value = std::string(cs.substr(start, i - start));
      }
    }
    if (!key.empty()) out.emplace_back(std::move(key), std::move(value));
    skip_separators();
  }
  return out;
}

std::string pair_value(const std::vector<std::pair<std::string, std::string>>& pairs,
                       std::initializer_list<std::string_view> keys) {
  for (auto key : keys) {
    for (const auto& [k, v] : pairs) {
      if (k == key && !v.empty()) return v;
    }
  }
  return {};
}

bool has_key(const std::vector<std::pair<std::string, std::string>>& pairs, std::string_view key) {
  for (const auto& p : pairs) {
    if (p.first == key) return true;
  }
  return false;
}

// A connection string in URI form (libpq takes postgresql://user:pass@host:port/db).
std::optional<detail::Url> as_uri(const std::string& cs) {
  if (cs.find("://") == std::string::npos) return std::nullopt;
  try {
    return detail::parse_url(cs);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "postgresql 127.0.0.1:5432", "sqlite3 /var/lib/app.db", "odbc dsn=locks".
std::string describe_server(const std::string& backend, const std::string& cs) {
  if (auto uri = as_uri(cs); uri && !uri->hosts.empty()) {
    const auto& h = uri->hosts[0];
    return backend + " " + h.host + (h.port ? ":" + std::to_string(*h.port) : std::string());
  }
  const auto pairs = connection_pairs(cs);
  if (backend == "sqlite3") {
    std::string db = pair_value(pairs, {"db", "dbname"});
    if (db.empty() && cs.find('=') == std::string::npos) db = cs;
    return "sqlite3 " + (db.empty() ? std::string("database") : db);
  }
  std::string host = pair_value(pairs, {"host", "hostaddr", "server", "hostname"});
  std::string port = pair_value(pairs, {"port"});
  if (host.empty()) {
    const std::string dsn = pair_value(pairs, {"dsn", "service", "db", "dbname"});
    return backend + (dsn.empty() ? std::string(" (default server)") : " " + dsn);
  }
  return backend + " " + host + (port.empty() ? std::string() : ":" + port);
}

// Values that must never appear in messages.
std::vector<std::string> secrets_of(const std::string& cs) {
  std::vector<std::string> out;
  if (auto uri = as_uri(cs); uri && uri->password && !uri->password->empty()) {
    out.push_back(*uri->password);
  }
  for (const auto& [k, v] : connection_pairs(cs)) {
    if ((k == "password" || k == "pwd" || k == "pass") && !v.empty()) out.push_back(v);
  }
  return out;
}

// A value for a space-separated connection string, quoted only when it needs it.
std::string quoted_value(std::string_view v) {
  const bool plain = !v.empty() && v.find_first_of(" '\\=;\t") == std::string_view::npos;
  if (plain) return std::string(v);
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// An ODBC attribute value: braces only when it needs them ('}' doubled inside).
std::string odbc_value(std::string_view v) {
  if (v.find_first_of(";{}= ") == std::string_view::npos) return std::string(v);
  std::string out = "{";
  for (char c : v) {
    out += c;
    if (c == '}') out += '}';
  }
  return out + "}";
}

// ---------------------------------------------------------------------------------------------
// Dialects.

SociDialect dialect_of_backend(std::string_view backend) {
  if (backend == "sqlite3") return SociDialect::sqlite;
  if (backend == "postgresql") return SociDialect::postgresql;
  if (backend == "mysql") return SociDialect::mysql;
  if (backend == "oracle") return SociDialect::oracle;
  if (backend == "firebird") return SociDialect::firebird;
  return SociDialect::automatic;  // not known from the name alone
}

bool tested(SociDialect d) {
  return d == SociDialect::sqlite || d == SociDialect::postgresql || d == SociDialect::mysql;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// Every statement the adapter runs, written once per dialect. Placeholders are bound in the
// order they appear (SOCI binds unnamed `use` elements by position).
struct Sql {
  SociDialect dialect = SociDialect::automatic;
  std::string raw_table;
  std::string table;          // quoted
  std::string insert;         // key, owner, ms  (SQL Server: key, owner, ms, key)
  bool insert_key_twice = false;
  std::string take_over;      // owner, ms, key
  std::string remove;         // key
  std::string remove_owned;   // key, owner
  bool remove_counts = false;  // remove statements return a count (PostgreSQL, to notify)
  std::string extend;         // ms, key, owner
  std::string get;            // key → owner, expiration, expired (0/1)
  std::string now;            // → epoch ms
  std::string probe;          // succeeds when the table exists
  std::string channel;        // PostgreSQL: where releases are announced
};

Sql build_sql(SociDialect d, const std::string& raw_table) {
  Sql s;
  s.dialect = d;
  s.raw_table = raw_table;
  const char q = d == SociDialect::mysql ? '`' : '"';
  const std::string t = quote_sql_identifier(raw_table, q);
  const std::string K = quote_sql_identifier("key", q);
  const std::string O = quote_sql_identifier("owner", q);
  const std::string E = quote_sql_identifier("expiration", q);
  s.table = t;
  std::string now;
  std::string ms;
  std::string from_dual;
  switch (d) {
    case SociDialect::sqlite:
      // 3.40 has no unixepoch('subsec'): from the Julian day ('now' is fixed per statement).
      now = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)";
      ms = "CAST(:ms AS INTEGER)";
      break;
    case SociDialect::postgresql:
      // clock_timestamp(): the real time, not the start of the transaction.
      now = "CAST(floor(extract(epoch from clock_timestamp()) * 1000) AS bigint)";
      ms = "CAST(:ms AS bigint)";
      break;
    case SociDialect::mysql:
      // UTC_TIMESTAMP does not depend on the session's time zone (which an application's
      // session may set to anything), so no daylight-saving hour is ambiguous.
      now = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) DIV 1000)";
      ms = "CAST(:ms AS SIGNED)";
      break;
    case SociDialect::sql_server:
      now = "DATEDIFF_BIG(millisecond, CAST('1970-01-01' AS datetime2), SYSUTCDATETIME())";
      ms = "CAST(:ms AS bigint)";
      break;
    case SociDialect::oracle:
      // Whole seconds from the DATE difference, milliseconds from the seconds field.
      now = "(ROUND((CAST(SYS_EXTRACT_UTC(SYSTIMESTAMP) AS DATE) - DATE '1970-01-01') * "
            "86400000) + TRUNC(MOD(EXTRACT(SECOND FROM SYS_EXTRACT_UTC(SYSTIMESTAMP)) * 1000, "
            "1000)))";
      ms = "CAST(:ms AS NUMBER(19))";
      from_dual = " FROM dual";
      break;
    case SociDialect::firebird:
      now = "DATEDIFF(MILLISECOND FROM CAST('1970-01-01' AS TIMESTAMP) TO "
            "CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS TIMESTAMP WITHOUT TIME ZONE))";
      ms = "CAST(:ms AS BIGINT)";
      from_dual = " FROM RDB$DATABASE";
      break;
    case SociDialect::automatic:
      break;
  }
  const std::string live = "(" + E + " IS NULL OR " + E + " > " + now + ")";
  const std::string columns = " (" + K + ", " + O + ", " + E + ")";
  switch (d) {
    case SociDialect::sqlite:
    case SociDialect::postgresql:
      s.insert = "INSERT INTO " + t + columns + " VALUES (:key, :owner, " + ms + " + " + now +
                 ") ON CONFLICT (" + K + ") DO NOTHING";
      break;
    case SociDialect::mysql:
      // IGNORE turns the duplicate-key error into "0 rows"; keys and owners are checked
      // before, so no other error can be ignored into a wrong row.
      s.insert = "INSERT IGNORE INTO " + t + columns + " VALUES (:key, :owner, " + ms + " + " +
                 now + ")";
      break;
    case SociDialect::sql_server:
      s.insert = "INSERT INTO " + t + columns + " SELECT :key, :owner, " + ms + " + " + now +
                 " WHERE NOT EXISTS (SELECT 1 FROM " + t + " WITH (UPDLOCK, HOLDLOCK) WHERE " +
                 K + " = :key2)";
      s.insert_key_twice = true;
      break;
    default:
      s.insert = "INSERT INTO " + t + columns + " VALUES (:key, :owner, " + ms + " + " + now + ")";
      break;
  }
  s.take_over = "UPDATE " + t + " SET " + O + " = :owner, " + E + " = " + ms + " + " + now +
                " WHERE " + K + " = :key AND " + E + " IS NOT NULL AND " + E + " <= " + now;
  s.remove = "DELETE FROM " + t + " WHERE " + K + " = :key";
  s.remove_owned =
      "DELETE FROM " + t + " WHERE " + K + " = :key AND " + O + " = :owner AND " + live;
  if (d == SociDialect::postgresql) {
    // Announce releases as the native PostgreSQL store does, so its waiters (which LISTEN on
    // this channel) wake when a SOCI client releases a lock.
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(fnv1a(raw_table)));
    s.channel = std::string("verrou_") + hex;
    auto notify = [&](const std::string& del) {
      return "WITH d AS (" + del + " RETURNING " + K + ") SELECT count(*) FROM (SELECT " +
             "pg_notify('" + s.channel + "', " + K + ") AS n FROM d) AS notified";
    };
    s.remove = notify(s.remove);
    s.remove_owned = notify(s.remove_owned);
    s.remove_counts = true;
  }
  s.extend = "UPDATE " + t + " SET " + E + " = " + ms + " + " + now + " WHERE " + K +
             " = :key AND " + O + " = :owner AND " + live;
  s.get = "SELECT " + O + ", " + E + ", CASE WHEN " + E + " IS NOT NULL AND " + E + " <= " + now +
          " THEN 1 ELSE 0 END FROM " + t + " WHERE " + K + " = :key";
  s.now = "SELECT " + now + from_dual;
  s.probe = "SELECT COUNT(*) FROM " + t + " WHERE 1 = 0";
  return s;
}

// ---------------------------------------------------------------------------------------------
// Running statements.

enum Stmt : std::size_t { kInsert, kTakeOver, kRemove, kRemoveOwned, kExtend, kGet, kNow, kStmtCount };

const std::string& text_of(const Sql& sql, Stmt kind) {
  switch (kind) {
    case kInsert: return sql.insert;
    case kTakeOver: return sql.take_over;
    case kRemove: return sql.remove;
    case kRemoveOwned: return sql.remove_owned;
    case kExtend: return sql.extend;
    case kGet: return sql.get;
    case kNow:
    case kStmtCount: break;
  }
  return sql.now;
}

// What one statement binds and reads. SOCI binds variables by reference, so they live here,
// beside the statement, for as long as it does.
struct Exchange {
  std::string key;
  std::string owner;
  long long ms = 0;
  soci::indicator ms_ind = soci::i_null;
  std::string out_owner;
  long long out_expiration = 0;
  soci::indicator out_expiration_ind = soci::i_ok;
  int out_expired = 0;
  soci::indicator out_expired_ind = soci::i_ok;
  long long number = 0;
  soci::indicator number_ind = soci::i_ok;

  void set_ms(std::optional<long long> value) {
    ms = value.value_or(0);
    ms_ind = value ? soci::i_ok : soci::i_null;
  }
};

// Binds `x` to `st` for statement `kind`, in the order its placeholders appear (SOCI binds
// unnamed `use` elements by position), and prepares it.
void bind(soci::statement& st, const Sql& sql, Stmt kind, Exchange& x,
          soci::details::statement_type type) {
  switch (kind) {
    case kInsert:
      st.exchange(soci::use(x.key));
      st.exchange(soci::use(x.owner));
      st.exchange(soci::use(x.ms, x.ms_ind));
      if (sql.insert_key_twice) st.exchange(soci::use(x.key));
      break;
    case kTakeOver:
      st.exchange(soci::use(x.owner));
      st.exchange(soci::use(x.ms, x.ms_ind));
      st.exchange(soci::use(x.key));
      break;
    case kRemove:
    case kRemoveOwned:
      if (sql.remove_counts) st.exchange(soci::into(x.number, x.number_ind));
      st.exchange(soci::use(x.key));
      if (kind == kRemoveOwned) st.exchange(soci::use(x.owner));
      break;
    case kExtend:
      st.exchange(soci::use(x.ms, x.ms_ind));
      st.exchange(soci::use(x.key));
      st.exchange(soci::use(x.owner));
      break;
    case kGet:
      st.exchange(soci::into(x.out_owner));
      st.exchange(soci::into(x.out_expiration, x.out_expiration_ind));
      st.exchange(soci::into(x.out_expired, x.out_expired_ind));
      st.exchange(soci::use(x.key));
      break;
    case kNow:
    case kStmtCount:
      st.exchange(soci::into(x.number, x.number_ind));
      break;
  }
  st.alloc();
  st.prepare(text_of(sql, kind), type);
  st.define_and_bind();
}

// A statement prepared once on a session of the store's own and run again and again.
struct Prepared {
  explicit Prepared(soci::session& session) : st(session) {}
  Exchange x;
  soci::statement st;
};

// A session of the store's own pool, with the statements prepared on it.
struct OwnSession {
  std::unique_ptr<soci::session> session;
  std::array<std::unique_ptr<Prepared>, kStmtCount> prepared{};

  OwnSession() = default;
  OwnSession(const OwnSession&) = delete;
  OwnSession& operator=(const OwnSession&) = delete;
  ~OwnSession() {
    for (auto& p : prepared) p.reset();  // statements before their session
  }
};

struct Outcome {
  std::uint64_t rows = 0;  // affected rows (or the count a PostgreSQL release returns)
  bool got_row = false;
};

// Runs statement `kind` with the inputs in `x` on `session`; outputs land in `x`.
//
// On PostgreSQL sessions of the store's own pool (`own`), statements are prepared once per
// session: the server then neither parses nor plans them again, which more than halves a
// lock cycle. Everywhere else they are one-time queries: nothing is left behind on a session
// that may be the application's, and on SQLite no finished statement keeps a read snapshot.
Outcome run(soci::session& session, OwnSession* own, const Sql& sql, Stmt kind, Exchange& x) {
  Outcome out;
  auto finish = [&](soci::statement& st, bool got) {
    out.got_row = got;
    if (sql.remove_counts && (kind == kRemove || kind == kRemoveOwned)) {
      out.rows = got && x.number_ind == soci::i_ok && x.number > 0
                     ? static_cast<std::uint64_t>(x.number)
                     : 0;
    } else if (kind != kGet && kind != kNow) {
      const long long rows = st.get_affected_rows();
      out.rows = rows > 0 ? static_cast<std::uint64_t>(rows) : 0;
    }
  };
  if (own != nullptr && sql.dialect == SociDialect::postgresql) {
    auto& slot = own->prepared.at(kind);
    if (!slot) {
      auto p = std::make_unique<Prepared>(session);
      bind(p->st, sql, kind, p->x, soci::details::st_repeatable_query);
      slot = std::move(p);
    }
    Prepared& p = *slot;
    p.x.key = x.key;
    p.x.owner = x.owner;
    p.x.ms = x.ms;
    p.x.ms_ind = x.ms_ind;
    p.x.number = 0;
    p.x.number_ind = soci::i_ok;
    try {
      const bool got = p.st.execute(true);
      x.out_owner = p.x.out_owner;
      x.out_expiration = p.x.out_expiration;
      x.out_expiration_ind = p.x.out_expiration_ind;
      x.out_expired = p.x.out_expired;
      x.out_expired_ind = p.x.out_expired_ind;
      x.number = p.x.number;
      x.number_ind = p.x.number_ind;
      finish(p.st, got);
    } catch (...) {
      slot.reset();  // prepared again next time, if the session survives
      throw;
    }
    return out;
  }
  soci::statement st(session);
  bind(st, sql, kind, x, soci::details::st_one_time_query);
  finish(st, st.execute(true));
  return out;
}

// An idle session of the store's own pool is still usable when its socket has nothing to
// read: a closed connection (server restarted, or it ended the session) reads as EOF. Checked
// before each lease, as the native stores do, so a restart costs no failed operation. Where
// the backend hides its socket (SQLite has none; ODBC), the session is trusted and replaced
// after its first failure instead.
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

bool connected(soci::session& s) noexcept {
  try {
    return s.is_connected();
  } catch (...) {
    return false;
  }
}

void register_linked_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Linked backends are registered so `soci::session(name, …)` needs no dlopen; any other
    // name is left to SOCI's own loader.
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

}  // namespace

std::string_view to_string(SociDialect dialect) {
  switch (dialect) {
    case SociDialect::automatic: return "auto";
    case SociDialect::sqlite: return "sqlite";
    case SociDialect::postgresql: return "postgresql";
    case SociDialect::mysql: return "mysql";
    case SociDialect::sql_server: return "sqlserver";
    case SociDialect::oracle: return "oracle";
    case SociDialect::firebird: return "firebird";
  }
  return "auto";
}

SociDialect parse_soci_dialect(std::string_view name) {
  const std::string n = lower(name);
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

struct SociAdapter::Impl {
  SociStoreOptions options;
  std::string server;  // for messages
  std::vector<std::string> secrets;
  std::unique_ptr<detail::ConnectionPool<OwnSession>> own_pool;
  bool in_memory = false;  // an in-memory SQLite database
  // Who may use options.session: a flag under a mutex, so a caller can wait with a timeout
  // (std::timed_mutex would do, but its clocked lock is invisible to ThreadSanitizer).
  std::mutex session_mutex;
  std::condition_variable session_free;
  bool session_busy = false;
  std::string table = "verrou";

  std::mutex sql_mutex;
  std::unique_ptr<const Sql> sql_storage;
  std::atomic<const Sql*> sql_ptr{nullptr};

  // The database's message, without SOCI's echo of the statement and its bound values (which
  // include owner tokens) and never with a password.
  std::string clean(std::string message) const {
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

  [[noreturn]] void fail(std::string_view operation, const std::string& cause) const {
    throw LockStorageError("SOCI " + server + ": " + std::string(operation) +
                           " failed: " + clean(cause));
  }

  std::unique_ptr<OwnSession> connect() const {
    register_linked_backends();
    std::string cs = options.connection_string;
    const auto pairs = connection_pairs(cs);
    // Never wait forever on a server that does not answer.
    if (options.backend == "postgresql" && cs.find("connect_timeout") == std::string::npos) {
      if (cs.find("://") != std::string::npos) {
        cs += (cs.find('?') == std::string::npos ? "?" : "&") + std::string("connect_timeout=5");
      } else {
        cs += " connect_timeout=5";
      }
    } else if (options.backend == "mysql") {
      if (!has_key(pairs, "connect_timeout")) cs += " connect_timeout=5";
      if (!has_key(pairs, "read_timeout")) cs += " read_timeout=10";
      if (!has_key(pairs, "write_timeout")) cs += " write_timeout=10";
      if (!has_key(pairs, "charset")) cs += " charset=utf8mb4";
    }
    auto own = std::make_unique<OwnSession>();
    try {
      {
        // Some ODBC drivers are not thread-safe while connecting (psqlODBC calls setlocale,
        // which races with another thread doing the same): ODBC connects take turns.
        static std::mutex odbc_connect;
        std::unique_lock turn(odbc_connect, std::defer_lock);
        if (options.backend == "odbc") turn.lock();
        own->session = std::make_unique<soci::session>(options.backend, cs);
      }
      soci::session* session = own->session.get();
      if (options.backend == "sqlite3") {
        // Writers queue on SQLite's lock for up to 5 s instead of failing at once.
        if (!has_key(pairs, "timeout")) *session << "PRAGMA busy_timeout = 5000";
        if (!in_memory) {
          // As the native SQLite store does: WAL, so readers never block the writer and a
          // commit is one append. A file another process holds busy while switching stays as
          // it is: locks are correct either way, only slower under contention.
          try {
            std::string mode;
            *session << "PRAGMA journal_mode = WAL", soci::into(mode);
          } catch (const std::exception&) {
          }
          *session << "PRAGMA synchronous = NORMAL";
        }
      }
    } catch (const std::exception& e) {
      fail("connect", e.what());
    }
    return own;
  }

  // Failures after which the statement did nothing, so running it again is safe:
  // - SQLite's "database is locked": another connection held the lock past busy_timeout, or
  //   waiting could have deadlocked (a reader upgrading to writer while another writer waits
  //   for it), and SQLite refused at once; the other writer finishes meanwhile;
  // - a deadlock victim (InnoDB's error 1213, PostgreSQL's 40P01): the database rolled the
  //   statement back.
  struct Busy {
    std::string cause;
  };
  bool busy(const std::string& cause) const {
    if (cause.find("Deadlock found when trying to get lock") != std::string::npos ||
        cause.find("deadlock detected") != std::string::npos) {
      return true;
    }
    const Sql* s = sql_ptr.load(std::memory_order_acquire);
    const bool sqlite = options.backend == "sqlite3" || options.dialect == SociDialect::sqlite ||
                        (s != nullptr && s->dialect == SociDialect::sqlite);
    return sqlite && (cause.find("database is locked") != std::string::npos ||
                      cause.find("database table is locked") != std::string::npos);
  }

  // Runs `f(session)` on a leased session, turning SOCI's errors into LockStorageError.
  template <class F>
  auto with_session(std::string_view operation, F&& f) {
    using steady = std::chrono::steady_clock;
    const auto deadline = steady::now() + std::chrono::seconds(10);
    thread_local std::minstd_rand jitter(static_cast<std::minstd_rand::result_type>(
        std::hash<std::thread::id>{}(std::this_thread::get_id())));
    for (int attempt = 0;; ++attempt) {
      try {
        return with_session_once(operation, f);
      } catch (const Busy& b) {
        if (steady::now() >= deadline) fail(operation, "still, after 10 s of retries: " + b.cause);
        const int ceiling = std::min(20, 2 + attempt);
        std::this_thread::sleep_for(std::chrono::milliseconds(
            1 + static_cast<int>(jitter() % static_cast<unsigned>(ceiling))));
      }
    }
  }

  template <class F>
  auto with_session_once(std::string_view operation, F& f) {
    if (own_pool) {
      auto lease = own_pool->acquire();
      try {
        return f(*lease->session, &*lease);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        std::string cause = e.what();
        if (busy(cause)) throw Busy{std::move(cause)};
        if (!connected(*lease->session)) lease.discard();  // the next borrower opens a fresh one
        fail(operation, cause);
      }
    }
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options.wait_timeout);
    if (options.pool) {
      std::size_t pos = 0;
      const int timeout = static_cast<int>(std::min<std::int64_t>(wait_ms.count(), INT_MAX));
      if (!options.pool->try_lease(pos, timeout)) {
        throw LockStorageError("SOCI " + server + ": " + std::string(operation) +
                               " failed: no session of the application's pool became free in " +
                               std::to_string(wait_ms.count()) + " ms");
      }
      struct GiveBack {
        soci::connection_pool* pool;
        std::size_t pos;
        ~GiveBack() { pool->give_back(pos); }
      } give_back{options.pool.get(), pos};
      soci::session& session = options.pool->at(pos);
      try {
        return f(session, static_cast<OwnSession*>(nullptr));
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        std::string cause = e.what();
        if (busy(cause)) throw Busy{std::move(cause)};
        repair(session);
        fail(operation, cause);
      }
    }
    {
      std::unique_lock lock(session_mutex);
      if (!session_free.wait_for(lock, wait_ms, [&] { return !session_busy; })) {
        throw LockStorageError("SOCI " + server + ": " + std::string(operation) +
                               " failed: the application's session stayed busy for " +
                               std::to_string(wait_ms.count()) + " ms");
      }
      session_busy = true;
    }
    struct Release {
      Impl* impl;
      ~Release() {
        {
          std::lock_guard lock(impl->session_mutex);
          impl->session_busy = false;
        }
        impl->session_free.notify_one();
      }
    } release{this};
    try {
      return f(*options.session, static_cast<OwnSession*>(nullptr));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::string cause = e.what();
      if (busy(cause)) throw Busy{std::move(cause)};
      repair(*options.session);
      fail(operation, cause);
    }
  }

  // A session of the application's that lost its connection is asked to reconnect, so the
  // store recovers by itself once the server is back (failures here are reported next time).
  static void repair(soci::session& session) noexcept {
    if (connected(session)) return;
    try {
      session.reconnect();
    } catch (...) {
    }
  }

  SociDialect resolve_dialect() {
    if (options.dialect != SociDialect::automatic) return options.dialect;
    std::string backend = options.backend;
    if (backend.empty()) {
      backend = with_session("read the session's backend",
                             [](soci::session& s, OwnSession*) { return s.get_backend_name(); });
    }
    if (auto d = dialect_of_backend(backend); d != SociDialect::automatic) return d;
    if (backend == "odbc") {
#if defined(VERROU_SOCI_HAVE_ODBC)
      // SOCI's ODBC backend asks the driver for its DBMS name (SQLGetInfo). The backend's
      // class has no exported type information, so no dynamic_cast: the name says what it is.
      const auto product = with_session("ask the ODBC driver for its database", [](soci::session& s, OwnSession*) {
        if (s.get_backend_name() != "odbc") return soci::odbc_session_backend::prod_unknown;
        return static_cast<soci::odbc_session_backend*>(s.get_backend())->get_database_product();
      });
      switch (product) {
        case soci::odbc_session_backend::prod_postgresql: return SociDialect::postgresql;
        case soci::odbc_session_backend::prod_mysql: return SociDialect::mysql;
        case soci::odbc_session_backend::prod_sqlite: return SociDialect::sqlite;
        case soci::odbc_session_backend::prod_mssql: return SociDialect::sql_server;
        case soci::odbc_session_backend::prod_oracle: return SociDialect::oracle;
        case soci::odbc_session_backend::prod_firebird: return SociDialect::firebird;
        default: break;
      }
      throw InvalidArgumentError(
          "SOCI " + server +
          ": the ODBC driver's database is not one verrou-cpp writes SQL for; give the "
          "dialect (SociStoreOptions::dialect, or dialect= in the URL): sqlite, postgresql, "
          "mysql, sqlserver, oracle or firebird");
#else
      throw InvalidArgumentError(
          "SOCI " + server +
          ": this build cannot ask an ODBC driver for its database (verrou-cpp was built "
          "without SOCI's ODBC headers); give the dialect (SociStoreOptions::dialect, or "
          "dialect= in the URL)");
#endif
    }
    throw InvalidArgumentError("SOCI backend \"" + backend +
                               "\": verrou-cpp does not know its SQL dialect; give it "
                               "(SociStoreOptions::dialect, or dialect= in the URL): sqlite, "
                               "postgresql, mysql, sqlserver, oracle or firebird");
  }

  // The statements, built on first use (resolving the dialect may need a session).
  const Sql& sql() {
    if (const Sql* s = sql_ptr.load(std::memory_order_acquire)) return *s;
    std::lock_guard lock(sql_mutex);
    if (!sql_storage) {
      sql_storage = std::make_unique<const Sql>(build_sql(resolve_dialect(), table));
      sql_ptr.store(sql_storage.get(), std::memory_order_release);
    }
    return *sql_storage;
  }

  std::optional<DatabaseLockRow> read(const std::string& key) {
    const Sql& s = sql();
    return with_session("read lock", [&](soci::session& session, OwnSession* own) {
      Exchange x;
      x.key = key;
      std::optional<DatabaseLockRow> row;
      if (run(session, own, s, kGet, x).got_row) {
        DatabaseLockRow r;
        r.owner = std::move(x.out_owner);
        if (x.out_expiration_ind == soci::i_ok) r.expiration = x.out_expiration;
        r.expired = x.out_expired_ind == soci::i_ok && x.out_expired != 0;
        row = std::move(r);
      }
      return row;
    });
  }
};

SociAdapter::SociAdapter(SociStoreOptions options) : impl_(std::make_unique<Impl>()) {
  const int given = (options.connection_string.empty() ? 0 : 1) + (options.pool ? 1 : 0) +
                    (options.session != nullptr ? 1 : 0);
  if (given != 1) {
    throw InvalidArgumentError(
        "SociStoreOptions: give exactly one of connection_string (with backend), pool or "
        "session" +
        std::string(given == 0 ? " (none was given)" : " (several were given)"));
  }
  if (!options.connection_string.empty() && options.backend.empty()) {
    throw InvalidArgumentError(
        "SociStoreOptions::backend is empty; name SOCI's backend for the connection string: "
        "sqlite3, postgresql, mysql, odbc, firebird, …");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("SociStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  if (options.wait_timeout <= Duration::zero()) {
    throw InvalidArgumentError("SociStoreOptions::wait_timeout must be above zero (default 30s)");
  }
  options.backend = lower(options.backend);
  auto& impl = *impl_;
  if (!options.connection_string.empty()) {
    impl.server = describe_server(options.backend, options.connection_string);
    impl.secrets = secrets_of(options.connection_string);
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
    impl.own_pool = std::make_unique<detail::ConnectionPool<OwnSession>>(
        in_memory ? 1 : impl.options.pool_size, [self] { return self->connect(); },
        [](OwnSession& own) { return idle_session_healthy(*own.session); },
        "SOCI " + impl.server,
        std::chrono::duration_cast<std::chrono::milliseconds>(impl.options.wait_timeout));
  }
}

SociAdapter::~SociAdapter() = default;

void SociAdapter::set_table_name(const std::string& table) {
  validate_sql_identifier(table);
  std::lock_guard lock(impl_->sql_mutex);
  impl_->table = table;
  impl_->sql_storage.reset();
  impl_->sql_ptr.store(nullptr, std::memory_order_release);
}

void SociAdapter::create_table_if_not_exists() {
  auto& impl = *impl_;
  const Sql& s = impl.sql();
  const std::string& t = s.table;
  const char q = s.dialect == SociDialect::mysql ? '`' : '"';
  const std::string K = quote_sql_identifier("key", q);
  const std::string O = quote_sql_identifier("owner", q);
  const std::string E = quote_sql_identifier("expiration", q);
  const std::string standard = "CREATE TABLE IF NOT EXISTS " + t + " (" + K +
                               " varchar(255) NOT NULL PRIMARY KEY, " + O +
                               " varchar(255) NOT NULL, " + E + " bigint NULL)";
  try {
    impl.with_session("create lock table", [&](soci::session& session, OwnSession*) {
      switch (s.dialect) {
        case SociDialect::postgresql: {
          // CREATE TABLE IF NOT EXISTS alone races on PostgreSQL (two sessions both find no
          // table; one fails on the catalog's unique index). A transaction-scoped advisory
          // lock, on the same key as the native store's, makes creators take turns.
          soci::transaction tr(session);
          const std::string name = "verrou:create:" + s.raw_table;
          // No "already exists" notice on the session's output (for this transaction only).
          session << "SET LOCAL client_min_messages = warning";
          session << "SELECT pg_advisory_xact_lock(hashtext(:name))", soci::use(name);
          session << standard;
          tr.commit();
          break;
        }
        case SociDialect::mysql: {
          // The metadata lock on the name makes concurrent creators queue. Keys compare byte
          // for byte: a binary collation that does not pad ("k" and "k " are two keys).
          std::string version;
          session << "SELECT VERSION()", soci::into(version);
          std::string collation = "utf8mb4_bin";
          if (version.find("MariaDB") != std::string::npos) {
            collation = "utf8mb4_nopad_bin";
          } else if (!version.empty() && version[0] >= '8' && version[0] <= '9') {
            collation = "utf8mb4_0900_bin";
          }
          session << "CREATE TABLE IF NOT EXISTS " + t + " (" + K + " varchar(255) NOT NULL, " +
                         O + " varchar(255) NOT NULL, " + E + " bigint NULL, PRIMARY KEY (" + K +
                         ")) CHARACTER SET utf8mb4 COLLATE " + collation;
          break;
        }
        case SociDialect::sql_server:
          // nvarchar with a binary collation: Unicode keys, compared exactly (SQL Server's
          // default collations ignore case).
          session << "IF OBJECT_ID(N'" + s.raw_table + "', N'U') IS NULL CREATE TABLE " + t +
                         " (" + K + " nvarchar(255) COLLATE Latin1_General_100_BIN2 NOT NULL "
                         "PRIMARY KEY, " + O + " nvarchar(255) NOT NULL, " + E + " bigint NULL)";
          break;
        case SociDialect::oracle:
          // ORA-00955: the name is already used (another creator won).
          session << "BEGIN EXECUTE IMMEDIATE 'CREATE TABLE " + t + " (" + K +
                         " varchar2(255 char) NOT NULL PRIMARY KEY, " + O +
                         " varchar2(255 char) NOT NULL, " + E +
                         " NUMBER(19) NULL)'; EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN "
                         "RAISE; END IF; END;";
          break;
        case SociDialect::firebird:
          session << "EXECUTE BLOCK AS BEGIN IF (NOT EXISTS (SELECT 1 FROM RDB$RELATIONS WHERE "
                     "RDB$RELATION_NAME = '" + s.raw_table + "')) THEN EXECUTE STATEMENT 'CREATE "
                     "TABLE " + t + " (" + K + " varchar(255) CHARACTER SET UTF8 NOT NULL "
                     "PRIMARY KEY, " + O + " varchar(255) CHARACTER SET UTF8 NOT NULL, " + E +
                     " BIGINT)'; END";
          break;
        default:
          // SQLite: the write lock serializes creators; IF NOT EXISTS makes the later ones
          // do nothing.
          session << standard;
          break;
      }
    });
  } catch (const LockStorageError&) {
    // Whatever the database, a creator that lost a race fails only because the table is now
    // there: then all is well.
    const std::exception_ptr original = std::current_exception();
    try {
      impl.with_session("check lock table",
                        [&](soci::session& session, OwnSession*) { session << s.probe; });
    } catch (const LockStorageError&) {
      std::rethrow_exception(original);
    }
  }
}

bool SociAdapter::insert_lock(const std::string& key, const std::string& owner,
                              std::optional<Duration> ttl) {
  auto& impl = *impl_;
  const Sql& s = impl.sql();
  try {
    return impl.with_session("insert lock", [&](soci::session& session, OwnSession* own) {
             Exchange x;
             x.key = key;
             x.owner = owner;
             x.set_ms(ttl ? std::optional<long long>(ttl->count()) : std::nullopt);
             return run(session, own, s, kInsert, x).rows;
           }) > 0;
  } catch (const LockStorageError&) {
    // Dialects whose insert cannot skip an existing row (Oracle, Firebird; SQL Server in a
    // race) report it as a duplicate-key error, which SOCI does not tell apart from others:
    // the key's row being there is the answer "taken".
    if (tested(s.dialect)) throw;
    const std::exception_ptr original = std::current_exception();
    std::optional<DatabaseLockRow> row;
    try {
      row = impl.read(key);
    } catch (const LockStorageError&) {
      std::rethrow_exception(original);
    }
    if (row) return false;
    std::rethrow_exception(original);
  }
}

std::uint64_t SociAdapter::acquire_expired_lock(const std::string& key, const std::string& owner,
                                                std::optional<Duration> ttl) {
  auto& impl = *impl_;
  const Sql& s = impl.sql();
  return impl.with_session("take over expired lock", [&](soci::session& session, OwnSession* own) {
    Exchange x;
    x.key = key;
    x.owner = owner;
    x.set_ms(ttl ? std::optional<long long>(ttl->count()) : std::nullopt);
    return run(session, own, s, kTakeOver, x).rows;
  });
}

std::uint64_t SociAdapter::delete_lock(const std::string& key,
                                       const std::optional<std::string>& owner) {
  auto& impl = *impl_;
  const Sql& s = impl.sql();
  return impl.with_session(owner ? "release lock" : "force release lock",
                           [&](soci::session& session, OwnSession* own) {
                             Exchange x;
                             x.key = key;
                             if (owner) x.owner = *owner;
                             return run(session, own, s, owner ? kRemoveOwned : kRemove, x).rows;
                           });
}

std::uint64_t SociAdapter::extend_lock(const std::string& key, const std::string& owner,
                                       Duration duration) {
  auto& impl = *impl_;
  const Sql& s = impl.sql();
  const std::uint64_t n =
      impl.with_session("extend lock", [&](soci::session& session, OwnSession* own) {
        Exchange x;
        x.key = key;
        x.owner = owner;
        x.set_ms(duration.count());
        return run(session, own, s, kExtend, x).rows;
      });
  if (n > 0 || s.dialect == SociDialect::postgresql || s.dialect == SociDialect::sqlite) return n;
  // MySQL reports changed rows, not matched ones, unless the client asked for found rows
  // (SOCI's MySQL backend does; MySQL's ODBC driver does not by default): an extend that
  // wrote the expiration already there reports 0. The owner's live row says it succeeded.
  auto row = impl.read(key);
  return row && row->owner == owner && !row->expired ? 1 : 0;
}

std::optional<DatabaseLockRow> SociAdapter::get_lock(const std::string& key) {
  return impl_->read(key);
}

SociDialect SociAdapter::dialect() { return impl_->sql().dialect; }

std::int64_t SociAdapter::database_now() {
  auto& impl = *impl_;
  const Sql& s = impl.sql();
  return impl.with_session("read clock", [&](soci::session& session, OwnSession* own) {
    Exchange x;
    run(session, own, s, kNow, x);
    return static_cast<std::int64_t>(x.number_ind == soci::i_ok ? x.number : 0);
  });
}

const std::string& SociAdapter::server() const { return impl_->server; }

std::shared_ptr<DatabaseStore> make_soci_store(SociStoreOptions options) {
  auto table = options.table_name;
  const bool create = options.auto_create_table;
  return std::make_shared<DatabaseStore>(DatabaseStoreOptions{
      .adapter = std::make_shared<SociAdapter>(std::move(options)),
      .table_name = std::move(table),
      .auto_create_table = create,
  });
}

StoreFactory soci_store(SociStoreOptions options) {
  return StoreFactory{.driver = "soci",
                      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
                        return make_soci_store(options);
                      }};
}

namespace detail {
namespace {

// User and password from the URL's authority, added in the backend's own syntax.
std::string with_credentials(const std::string& backend, std::string cs,
                             const std::optional<std::string>& user,
                             const std::optional<std::string>& password) {
  if (backend == "sqlite3") {
    throw InvalidArgumentError(
        "invalid SOCI URL: SQLite takes no user or password; write soci://sqlite3/<file>");
  }
  if (backend == "odbc") {
    if (!cs.empty() && cs.back() != ';') cs += ';';
    if (user) cs += "UID=" + odbc_value(*user) + ";";
    if (password) cs += "PWD=" + odbc_value(*password) + ";";
    return cs;
  }
  if (user) cs += " user=" + quoted_value(*user);
  if (password) cs += " password=" + quoted_value(*password);
  return cs;
}

std::shared_ptr<LockStore> open_soci(const Url& url) {
  url.check_params({"dialect", "table", "pool_size", "wait_timeout", "auto_create_table"});
  const char* expected =
      "invalid SOCI URL: expected soci://[user[:password]@]<backend>/<connection string>, the "
      "connection string percent-encoded (space %20), e.g. "
      "soci://app:secret@postgresql/host=db%20dbname=app or soci://sqlite3//var/lib/locks.db";
  if (!url.has_authority || url.hosts.size() != 1 || url.hosts[0].port) {
    throw InvalidArgumentError(expected);
  }
  SociStoreOptions options;
  options.backend = lower(url.hosts[0].host);
  options.connection_string = url.path.size() > 1 ? url.path.substr(1) : std::string();
  if (options.connection_string.empty()) {
    throw InvalidArgumentError(std::string(expected) + " (the connection string is empty)");
  }
  if (url.username || url.password) {
    options.connection_string =
        with_credentials(options.backend, options.connection_string, url.username, url.password);
  }
  if (auto d = url.param("dialect")) options.dialect = parse_soci_dialect(*d);
  if (auto t = url.param("table")) options.table_name = *t;
  options.pool_size = size_param(url, "pool_size", options.pool_size, 1, 64);
  options.wait_timeout = duration_param(url, "wait_timeout", options.wait_timeout);
  options.auto_create_table = bool_param(url, "auto_create_table", true);
  return make_soci_store(std::move(options));
}

}  // namespace

void register_soci_driver(DriverRegistry& registry) { registry.add("soci", &open_soci); }

}  // namespace detail
}  // namespace verrou
