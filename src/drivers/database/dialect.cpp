// SPDX-License-Identifier: Apache-2.0
#include "drivers/database/dialect.hpp"

#include <cstdio>
#include <utility>

#include "verrou/drivers/database.hpp"

namespace verrou::detail::sql {
namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex16(std::uint64_t v) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v));
  return hex;
}

// Writes one statement's placeholders and records the parameters they stand for.
class Writer {
 public:
  explicit Writer(Placeholders style) : style_(style) {}

  // The placeholder for `p` at this point of the text.
  std::string operator()(Param p) {
    if (style_ == Placeholders::dollar || style_ == Placeholders::numbered) {
      // Numbered by what they stand for (key 1, owner 2, milliseconds 3), so every statement binds
      // the same list, or a prefix of it: no statement uses a later value without the earlier ones
      // (a number left unused would have no type for PostgreSQL to infer).
      const auto n = static_cast<std::size_t>(p) + 1;
      while (params_.size() < n) params_.push_back(static_cast<Param>(params_.size()));
      return (style_ == Placeholders::dollar ? "$" : "?") + std::to_string(n);
    }
    params_.push_back(p);
    if (style_ == Placeholders::question) return "?";
    return ":p" + std::to_string(params_.size());
  }

  // The statement written with this writer; the writer starts over.
  Statement take(std::string text) {
    Statement s{std::move(text), std::move(params_)};
    params_.clear();
    return s;
  }

 private:
  Placeholders style_;
  std::vector<Param> params_;
};

struct Names {
  char quote;
  std::string K, O, E, T;  // key, owner, expiration, token columns (quoted)
  std::string H, L;        // holder, limit columns (quoted)
};

std::string now_of(Dialect d) {
  switch (d) {
    case Dialect::sqlite:
      // 3.40 has no unixepoch('subsec'): from the Julian day ('now' is fixed per statement, in
      // whole milliseconds).
      return "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS "
             "INTEGER)";
    case Dialect::postgresql:
      // clock_timestamp(): the real time, not the start of the transaction; rounded down, so a
      // lease never ends before the expiration its holder computed.
      return "CAST(floor(extract(epoch from clock_timestamp()) * 1000) AS "
             "bigint)";
    case Dialect::mysql:
      // UTC_TIMESTAMP does not depend on the session's time zone, which the store leaves as the
      // application set it (no daylight-saving hour is ambiguous either).
      return "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(3)) DIV "
             "1000)";
    case Dialect::sql_server:
      return "DATEDIFF_BIG(millisecond, CAST('1970-01-01' AS datetime2), "
             "SYSUTCDATETIME())";
    case Dialect::oracle:
      // Whole seconds from the DATE difference, milliseconds from the seconds field.
      return "(ROUND((CAST(SYS_EXTRACT_UTC(SYSTIMESTAMP) AS DATE) - DATE "
             "'1970-01-01') * "
             "86400000) + TRUNC(MOD(EXTRACT(SECOND FROM "
             "SYS_EXTRACT_UTC(SYSTIMESTAMP)) * 1000, "
             "1000)))";
    case Dialect::firebird:
      return "DATEDIFF(MILLISECOND FROM CAST('1970-01-01' AS TIMESTAMP) TO "
             "CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS TIMESTAMP WITHOUT "
             "TIME ZONE))";
  }
  return {};
}

// A bound number of milliseconds as the dialect's 64-bit integer.
std::string ms_of(Dialect d, const std::string& placeholder) {
  switch (d) {
    case Dialect::sqlite:
      return "CAST(" + placeholder + " AS INTEGER)";
    case Dialect::mysql:
      return "CAST(" + placeholder + " AS SIGNED)";
    case Dialect::oracle:
      return "CAST(" + placeholder + " AS NUMBER(19))";
    case Dialect::postgresql:
    case Dialect::sql_server:
    case Dialect::firebird:
      break;
  }
  return "CAST(" + placeholder + " AS bigint)";
}

std::string from_dual(Dialect d) {
  if (d == Dialect::oracle) return " FROM dual";
  if (d == Dialect::firebird) return " FROM RDB$DATABASE";
  return {};
}

std::vector<std::string> create_statements(Dialect d, const Statements& s, const Names& n,
                                           const BuildOptions& options) {
  const std::string lock_columns = n.K + " varchar(255) NOT NULL PRIMARY KEY, " + n.O +
                                   " varchar(255) NOT NULL, " + n.E + " bigint NULL";
  const std::string token_columns =
      n.K + " varchar(255) NOT NULL PRIMARY KEY, " + n.T + " bigint NOT NULL";
  const std::string fencing_raw = fencing_table_name(s.raw_table);
  const std::string holder_columns = n.K + " varchar(255) NOT NULL, " + n.H +
                                     " varchar(255) NOT NULL, " + n.L + " bigint NOT NULL, " +
                                     n.E + " bigint NULL, PRIMARY KEY (" + n.K + ", " + n.H + ")";
  switch (d) {
    case Dialect::sqlite:
    case Dialect::postgresql:
      return {"CREATE TABLE IF NOT EXISTS " + s.table + " (" + lock_columns + ")",
              "CREATE TABLE IF NOT EXISTS " + s.fencing_table + " (" + token_columns + ")",
              "CREATE TABLE IF NOT EXISTS " + s.semaphore_table + " (" + holder_columns + ")"};
    case Dialect::mysql: {
      // Keys compare byte for byte: a binary collation, without padding where the server has one
      // ("k" and "k " are two keys).
      const std::string tail =
          ", PRIMARY KEY (" + n.K + ")) CHARACTER SET utf8mb4 COLLATE " + options.mysql_collation;
      return {"CREATE TABLE IF NOT EXISTS " + s.table + " (" + n.K + " varchar(255) NOT NULL, " +
                  n.O + " varchar(255) NOT NULL, " + n.E + " bigint NULL" + tail,
              "CREATE TABLE IF NOT EXISTS " + s.fencing_table + " (" + n.K +
                  " varchar(255) NOT NULL, " + n.T + " bigint NOT NULL" + tail,
              "CREATE TABLE IF NOT EXISTS " + s.semaphore_table + " (" + holder_columns +
                  ") CHARACTER SET utf8mb4 COLLATE " + options.mysql_collation};
    }
    case Dialect::sql_server: {
      // nvarchar with a binary collation: Unicode keys, compared exactly (SQL Server's default
      // collations ignore case).
      const std::string key = n.K +
                              " nvarchar(255) COLLATE Latin1_General_100_BIN2 NOT NULL "
                              "PRIMARY KEY, ";
      return {"IF OBJECT_ID(N'" + s.raw_table + "', N'U') IS NULL CREATE TABLE " + s.table + " (" +
                  key + n.O + " nvarchar(255) NOT NULL, " + n.E + " bigint NULL)",
              "IF OBJECT_ID(N'" + fencing_raw + "', N'U') IS NULL CREATE TABLE " + s.fencing_table +
                  " (" + key + n.T + " bigint NOT NULL)"};
    }
    case Dialect::oracle: {
      // ORA-00955: the name is already used (another creator won).
      auto create = [](const std::string& body) {
        return "BEGIN EXECUTE IMMEDIATE 'CREATE TABLE " + body +
               "'; EXCEPTION WHEN OTHERS THEN IF SQLCODE != -955 THEN RAISE; END "
               "IF; END;";
      };
      const std::string key = n.K + " varchar2(255 char) NOT NULL PRIMARY KEY, ";
      return {create(s.table + " (" + key + n.O + " varchar2(255 char) NOT NULL, " + n.E +
                     " NUMBER(19) NULL)"),
              create(s.fencing_table + " (" + key + n.T + " NUMBER(19) NOT NULL)")};
    }
    case Dialect::firebird: {
      auto create = [](const std::string& raw, const std::string& body) {
        return "EXECUTE BLOCK AS BEGIN IF (NOT EXISTS (SELECT 1 FROM "
               "RDB$RELATIONS WHERE "
               "RDB$RELATION_NAME = '" +
               raw + "')) THEN EXECUTE STATEMENT 'CREATE TABLE " + body + "'; END";
      };
      const std::string key = n.K + " varchar(255) CHARACTER SET UTF8 NOT NULL PRIMARY KEY, ";
      return {
          create(s.raw_table, s.table + " (" + key + n.O +
                                  " varchar(255) CHARACTER SET UTF8 NOT NULL, " + n.E + " BIGINT)"),
          create(fencing_raw, s.fencing_table + " (" + key + n.T + " BIGINT NOT NULL)")};
    }
  }
  return {};
}

}  // namespace

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string fencing_table_name(std::string_view table) {
  constexpr std::string_view kSuffix = "_fencing";
  if (table.size() + kSuffix.size() <= 63) return std::string(table) + std::string(kSuffix);
  return std::string(table.substr(0, 38)) + "_" + hex16(fnv1a(table)) + std::string(kSuffix);
}

std::string semaphore_table_name(std::string_view table) {
  constexpr std::string_view kSuffix = "_semaphores";
  if (table.size() + kSuffix.size() <= 63) return std::string(table) + std::string(kSuffix);
  return std::string(table.substr(0, 35)) + "_" + hex16(fnv1a(table)) + std::string(kSuffix);
}

std::string notification_channel(std::string_view table) { return "verrou_" + hex16(fnv1a(table)); }

std::int32_t postgres_waiter_lock_class(std::string_view table) {
  // FNV-1a (32 bits) of a name that says whose lock it is, so the class differs from the small
  // numbers applications tend to pick for their own advisory locks.
  std::uint32_t h = 2166136261U;
  for (char c : std::string_view("verrou waiters:")) {
    h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
  }
  for (char c : table) h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
  return static_cast<std::int32_t>(h);
}

std::string postgres_waiter_lock_args(std::int32_t lock_class, std::string_view key_sql) {
  return std::to_string(lock_class) + ", hashtext(" + std::string(key_sql) + ")";
}

Statements build(Dialect d, std::string_view table, const BuildOptions& options) {
  Statements s;
  s.dialect = d;
  s.raw_table = std::string(table);
  Names n;
  n.quote = d == Dialect::mysql ? '`' : '"';
  n.K = quote_sql_identifier("key", n.quote);
  n.O = quote_sql_identifier("owner", n.quote);
  n.E = quote_sql_identifier("expiration", n.quote);
  n.T = quote_sql_identifier("token", n.quote);
  n.H = quote_sql_identifier("holder", n.quote);
  n.L = quote_sql_identifier("limit", n.quote);
  s.table = quote_sql_identifier(table, n.quote);
  s.fencing_table = quote_sql_identifier(fencing_table_name(table), n.quote);
  s.semaphore_table = quote_sql_identifier(semaphore_table_name(table), n.quote);
  s.now = now_of(d);
  const std::string& t = s.table;
  const std::string& now = s.now;
  const std::string& K = n.K;
  const std::string& O = n.O;
  const std::string& E = n.E;
  const std::string& T = n.T;
  const std::string live = "(" + E + " IS NULL OR " + E + " > " + now + ")";
  const std::string expired = E + " IS NOT NULL AND " + E + " <= " + now;
  const std::string columns = " (" + K + ", " + O + ", " + E + ")";
  const bool inexact = d == Dialect::mysql && options.keys == KeyComparison::inexact;

  // The writer records parameters in the order it is called, and the operands of `+` are evaluated
  // in no fixed order: one placeholder call per expression.
  Writer w(options.placeholders);
  auto ms = [&] { return ms_of(d, w(Param::ms)); };
  // On a MySQL table whose collation is not exact, `=` on the column finds the row through the
  // primary key, and the bytes (in UTF-8) must then match too: a statement never acts on the row of
  // a key that only compares equal ("Deploy" for "deploy", "k " for "k").
  auto exact_key = [&]() -> std::string {
    if (!inexact) return {};
    return " AND CAST(CONVERT(" + K + " USING utf8mb4) AS BINARY) = CAST(" + w(Param::key) +
           " AS BINARY)";
  };
  auto key_is = [&] {
    std::string c = K + " = " + w(Param::key);
    return c + exact_key();
  };

  // insert
  switch (d) {
    case Dialect::sqlite:
    case Dialect::postgresql: {
      const std::string k = w(Param::key);
      const std::string o = w(Param::owner);
      s.insert = w.take("INSERT INTO " + t + columns + " VALUES (" + k + ", " + o + ", " + ms() +
                        " + " + now + ") ON CONFLICT (" + K + ") DO NOTHING");
      break;
    }
    case Dialect::sql_server: {
      const std::string k = w(Param::key);
      const std::string o = w(Param::owner);
      const std::string m = ms();
      s.insert = w.take("INSERT INTO " + t + columns + " SELECT " + k + ", " + o + ", " + m +
                        " + " + now + " WHERE NOT EXISTS (SELECT 1 FROM " + t +
                        " WITH (UPDLOCK, HOLDLOCK) WHERE " + K + " = " + w(Param::key) + ")");
      break;
    }
    case Dialect::mysql:
    case Dialect::oracle:
    case Dialect::firebird: {
      // A plain INSERT: a duplicate key is an error the adapter reads as "0 rows". (MySQL's INSERT
      // IGNORE would also turn a value the column cannot hold into a warning and store a different
      // key.)
      const std::string k = w(Param::key);
      const std::string o = w(Param::owner);
      s.insert = w.take("INSERT INTO " + t + columns + " VALUES (" + k + ", " + o + ", " + ms() +
                        " + " + now + ")");
      break;
    }
  }
  {
    const std::string o = w(Param::owner);
    const std::string m = ms();
    s.take_over = w.take("UPDATE " + t + " SET " + O + " = " + o + ", " + E + " = " + m + " + " +
                         now + " WHERE " + key_is() + " AND " + expired);
  }
  s.remove = w.take("DELETE FROM " + t + " WHERE " + key_is());
  {
    std::string text = "DELETE FROM " + t + " WHERE " + key_is();
    text += " AND " + O + " = " + w(Param::owner) + " AND " + live;
    s.remove_owned = w.take(std::move(text));
  }
  if (d == Dialect::postgresql) {
    // Releases are announced from the same statement, so a waiter of any adapter (which
    // LISTENs on this channel) wakes when any adapter releases; but only when someone waits:
    // waiters hold a shared advisory lock on the key, and a release that can take it
    // exclusively (for the rest of its transaction) has nobody to wake. The count says whether
    // a row went.
    s.channel = notification_channel(table);
    s.waiter_lock_class = postgres_waiter_lock_class(table);
    auto notify = [&](Statement& st) {
      st.text = "WITH d AS (" + st.text + " RETURNING " + K +
                ") SELECT count(*) FROM (SELECT CASE WHEN pg_try_advisory_xact_lock(" +
                postgres_waiter_lock_args(s.waiter_lock_class, K) +
                ") THEN NULL ELSE pg_notify(" + quote_literal(s.channel) + ", " + K +
                ") END AS n FROM d) AS notified";
    };
    notify(s.remove);
    notify(s.remove_owned);
  }
  {
    const std::string m = ms();
    std::string text = "UPDATE " + t + " SET " + E + " = " + m + " + " + now + " WHERE " +
                       key_is() + " AND " + O + " = ";
    text += w(Param::owner) + " AND " + live;
    s.extend = w.take(std::move(text));
  }
  // (MySQL: a table made by Verrou's knex store has an unsigned expiration, which cannot go below
  // zero in arithmetic.)
  const std::string signed_e = d == Dialect::mysql ? "CAST(" + E + " AS SIGNED)" : E;
  s.get = w.take("SELECT " + O + ", " + E + ", CASE WHEN " + expired + " THEN 1 ELSE 0 END, " +
                 signed_e + " - " + now + " FROM " + t + " WHERE " + key_is());
  {
    // The prefix test compares the key's first characters with the prefix: no LIKE, so `%` and
    // `_` in keys need no escaping. `l.`: the fencing table has a key column too.
    std::string starts;
    if (d == Dialect::sqlite) {
      const std::string p = w(Param::key);
      starts = "substr(l." + K + ", 1, length(" + p + ")) = " + p;
    } else if (d == Dialect::postgresql) {
      starts = "starts_with(l." + K + ", " + w(Param::key) + ")";
    } else if (d == Dialect::mysql) {
      starts = "LEFT(l." + K + ", CHAR_LENGTH(" + w(Param::key) + ")) = ";
      starts += w(Param::key);
    }
    if (!starts.empty()) {
      const std::string e = d == Dialect::mysql ? "CAST(l." + E + " AS SIGNED)" : "l." + E;
      std::string text = "SELECT l." + K + ", l." + O + ", " + e + " - " + now + ", f." + n.T +
                         " FROM " + t + " l LEFT JOIN " + s.fencing_table + " f ON f." + K +
                         " = l." + K + " WHERE " + starts + " AND (l." + E + " IS NULL OR l." +
                         E + " > " + now + ") ORDER BY l." + K;
      s.list = w.take(std::move(text));
    }
  }
  s.now_query = w.take("SELECT " + now + from_dual(d));
  s.probe = "SELECT COUNT(*) FROM " + t + " WHERE 1 = 0";

  // Fencing.
  const std::string& f = s.fencing_table;
  switch (d) {
    case Dialect::postgresql: {
      s.fenced = Statements::FencedAcquire::one_statement;
      const std::string k = w(Param::key);
      const std::string o = w(Param::owner);
      const std::string m = ms();
      // One statement: insert, or take an expired row over; then raise the key's counter for the
      // row taken, and return it. No row: someone holds the lock.
      const std::string upsert =
          "INSERT INTO " + t + " AS l" + columns + " VALUES (" + k + ", " + o + ", " + m + " + " +
          now + ") ON CONFLICT (" + K + ") DO UPDATE SET " + O + " = EXCLUDED." + O + ", " + E +
          " = EXCLUDED." + E + " WHERE l." + E + " IS NOT NULL AND l." + E + " <= " + now;
      s.acquire = w.take(upsert);
      // The same text again inside the CTE: record its parameters again, in its order.
      w(Param::key);
      w(Param::owner);
      w(Param::ms);
      s.acquire_fenced =
          w.take("WITH acquired AS (" + upsert + " RETURNING l." + K + ") INSERT INTO " + f +
                 " AS c (" + K + ", " + T + ") SELECT " + K + ", 1 FROM acquired ON CONFLICT (" +
                 K + ") DO UPDATE SET " + T + " = c." + T + " + 1 RETURNING c." + T);
      break;
    }
    case Dialect::sqlite: {
      s.fenced = Statements::FencedAcquire::upsert_then_bump;
      const std::string k = w(Param::key);
      const std::string o = w(Param::owner);
      s.acquire = w.take("INSERT INTO " + t + columns + " VALUES (" + k + ", " + o + ", " + ms() +
                         " + " + now + ") ON CONFLICT (" + K + ") DO UPDATE SET " + O +
                         " = excluded." + O + ", " + E + " = excluded." + E + " WHERE " + expired);
      s.bump_token =
          w.take("INSERT INTO " + f + " (" + K + ", " + T + ") VALUES (" + w(Param::key) +
                 ", 1) ON CONFLICT (" + K + ") DO UPDATE SET " + T + " = " + T + " + 1");
      break;
    }
    case Dialect::mysql: {
      s.fenced = Statements::FencedAcquire::mysql_batch;
      // The new token is left in LAST_INSERT_ID(), which the server sends back with the statement's
      // result (its insert id): no query to read it. Whichever the server evaluates first, the
      // constant for a new row or the increment, the last one wins.
      const std::string bump = "INSERT INTO " + f + " (" + K + ", " + T + ") ";
      const std::string raise =
          " ON DUPLICATE KEY UPDATE " + T + " = LAST_INSERT_ID(" + T + " + 1)";
      s.bump_token = w.take(bump + "VALUES (" + w(Param::key) + ", LAST_INSERT_ID(1))" + raise);
      // After `take_over`: raises the counter only when it took the row over (ROW_COUNT() is the
      // previous statement's count, 1 or 0 whether or not the connection asked for found rows,
      // since a row taken over always changes).
      s.bump_token_if_taken = w.take(bump + "SELECT " + w(Param::key) +
                                     ", LAST_INSERT_ID(1) FROM DUAL WHERE ROW_COUNT() > 0" + raise);
      break;
    }
    case Dialect::sql_server:
    case Dialect::oracle:
    case Dialect::firebird:
      s.fenced = Statements::FencedAcquire::generic;
      s.bump_token = w.take("UPDATE " + f + " SET " + T + " = " + T + " + 1 WHERE " + K + " = " +
                            w(Param::key));
      s.insert_token =
          w.take("INSERT INTO " + f + " (" + K + ", " + T + ") VALUES (" + w(Param::key) + ", 1)");
      break;
  }
  s.read_token = w.take("SELECT " + T + " FROM " + f + " WHERE " + K + " = " + w(Param::key));

  // Semaphores (the header row of a key has the holder '').
  const std::string& st = s.semaphore_table;
  const std::string& H = n.H;
  const std::string& L = n.L;
  if (d == Dialect::sqlite || d == Dialect::postgresql || d == Dialect::mysql) {
    // DO UPDATE / ON DUPLICATE KEY UPDATE locks the row it finds (DO NOTHING would not).
    const std::string lock_tail = d == Dialect::mysql ? " ON DUPLICATE KEY UPDATE " + E + " = 0"
                                                      : " ON CONFLICT (" + K + ", " + H +
                                                            ") DO UPDATE SET " + E + " = 0";
    s.lock_semaphore = w.take("INSERT INTO " + st + " (" + K + ", " + H + ", " + L + ", " + E +
                              ") VALUES (" + w(Param::key) + ", '', 0, 0)" + lock_tail);
    s.prune_permits = w.take("DELETE FROM " + st + " WHERE " + K + " = " + w(Param::key) + " AND " +
                             H + " <> '' AND " + expired);
    // The counts come from a derived table (MySQL refuses a subquery on the table an INSERT
    // writes to, but not a derived one).
    const std::string k = w(Param::key);
    const std::string h = w(Param::owner);
    const std::string lim = ms_of(d, w(Param::limit));
    const std::string m = ms();
    std::string text = "INSERT INTO " + st + " (" + K + ", " + H + ", " + L + ", " + E +
                       ") SELECT " + k + ", " + h + ", " + lim + ", " + m + " + " + now +
                       " FROM (SELECT COUNT(*) AS n, MIN(" + L + ") AS m, SUM(CASE WHEN " + H +
                       " = ";
    text += w(Param::owner) + " THEN 1 ELSE 0 END) AS mine FROM " + st + " WHERE " + K + " = ";
    text += w(Param::key) + " AND " + H + " <> '' AND " + live + ") c WHERE c.n < ";
    text += ms_of(d, w(Param::limit));
    text += " AND (c.m IS NULL OR c.n < c.m) AND COALESCE(c.mine, 0) = 0";
    s.insert_permit = w.take(std::move(text));
  }
  {
    std::string text = "DELETE FROM " + st + " WHERE " + K + " = " + w(Param::key);
    text += " AND " + H + " = " + w(Param::owner) + " AND " + live;
    s.delete_permit = w.take(std::move(text));
  }
  {
    const std::string m = ms();
    std::string text = "UPDATE " + st + " SET " + E + " = " + m + " + " + now + " WHERE " + K +
                       " = " + w(Param::key);
    text += " AND " + H + " = " + w(Param::owner) + " AND " + live;
    s.extend_permit = w.take(std::move(text));
  }
  s.count_permits = w.take("SELECT COUNT(*) FROM " + st + " WHERE " + K + " = " + w(Param::key) +
                           " AND " + H + " <> '' AND " + live);
  {
    std::string text = "SELECT COUNT(*) FROM " + st + " WHERE " + K + " = " + w(Param::key);
    text += " AND " + H + " = " + w(Param::owner) + " AND " + live;
    s.permit_held = w.take(std::move(text));
  }

  s.create_tables = create_statements(d, s, n, options);
  if (d == Dialect::postgresql) {
    // CREATE TABLE IF NOT EXISTS alone races on PostgreSQL (two sessions both find no table; one
    // fails on the catalog's unique index): creators take turns on this lock.
    s.create_lock = "SELECT pg_advisory_xact_lock(hashtext(" +
                    quote_literal("verrou:create:" + s.raw_table) + "))";
  }
  return s;
}

MysqlVersion parse_mysql_version(std::string_view version) {
  MysqlVersion v;
  v.mariadb = version.find("MariaDB") != std::string_view::npos ||
              version.find("mariadb") != std::string_view::npos;
  // MariaDB 10 once reported itself as "5.5.5-10.x.y-MariaDB" to old clients.
  if (v.mariadb && version.substr(0, 6) == "5.5.5-") version.remove_prefix(6);
  unsigned* parts[3] = {&v.major, &v.minor, &v.patch};
  std::size_t i = 0;
  for (unsigned* part : parts) {
    if (i >= version.size() || version[i] < '0' || version[i] > '9') break;
    unsigned n = 0;
    while (i < version.size() && version[i] >= '0' && version[i] <= '9' && n < 100000) {
      n = n * 10 + static_cast<unsigned>(version[i] - '0');
      ++i;
    }
    *part = n;
    if (i >= version.size() || version[i] != '.') break;
    ++i;
  }
  return v;
}

std::string mysql_binary_collation(const MysqlVersion& v) {
  if (v.mariadb) return "utf8mb4_nopad_bin";  // MariaDB 10.2 and later
  const bool has_0900_bin = v.major > 8 || (v.major == 8 && (v.minor > 0 || v.patch >= 17));
  return has_0900_bin ? "utf8mb4_0900_bin" : "utf8mb4_bin";
}

bool mysql_collation_is_exact(std::string_view c) {
  if (c.empty() || c == "binary") return true;
  const bool bin = c.size() > 4 && c.substr(c.size() - 4) == "_bin";
  if (!bin) return false;
  return c.find("_nopad_") != std::string_view::npos || c.substr(0, 12) == "utf8mb4_0900";
}

Statement mysql_key_collation_query(Placeholders placeholders) {
  Writer w(placeholders);
  return w.take(
      "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE "
      "TABLE_SCHEMA = DATABASE() "
      "AND TABLE_NAME = " +
      w(Param::key) + " AND COLUMN_NAME = 'key'");
}

std::string inline_values(const Statement& statement, const std::vector<std::string>& values) {
  const std::string& text = statement.text;
  std::string out;
  out.reserve(text.size() + 64);
  std::size_t next = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '?' && next < values.size()) {
      out += values[next++];
    } else if (c == ':' && i + 2 < text.size() && text[i + 1] == 'p' && text[i + 2] >= '1' &&
               text[i + 2] <= '9') {
      // :pN (Placeholders::named): value N.
      std::size_t n = 0;
      i += 2;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        n = n * 10 + static_cast<std::size_t>(text[i] - '0');
        ++i;
      }
      --i;
      if (n >= 1 && n <= values.size()) out += values[n - 1];
    } else {
      out += c;
    }
  }
  return out;
}

std::string mysql_fenced_insert_batch(const Statements& s, const std::vector<std::string>& insert,
                                      const std::vector<std::string>& bump) {
  return "START TRANSACTION;" + inline_values(s.insert, insert) + ";" +
         inline_values(s.bump_token, bump) + ";COMMIT";
}

std::string mysql_fenced_take_over_batch(const Statements& s,
                                         const std::vector<std::string>& take_over,
                                         const std::vector<std::string>& bump) {
  // A new transaction: the failed insert's shared lock on the existing row is released before
  // the update asks for an exclusive one (two clients upgrading at once would deadlock).
  return "ROLLBACK;START TRANSACTION;" + inline_values(s.take_over, take_over) + ";" +
         inline_values(s.bump_token_if_taken, bump) + ";COMMIT";
}

}  // namespace verrou::detail::sql
