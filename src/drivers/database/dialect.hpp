// SPDX-License-Identifier: Apache-2.0
// The SQL every SQL adapter runs, written once per dialect.
//
// The native SQLite, PostgreSQL and MySQL adapters and the SOCI adapter all take their statement
// texts from here, so a statement, the server's "now", the collation a table is created with or the
// channel releases are announced on can never drift between two adapters that share one table. An
// adapter keeps only what belongs to its client library: connections, preparing, binding, reading
// results.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace verrou::detail::sql {

/// The SQL dialects verrou-cpp writes statements for.
enum class Dialect { sqlite, postgresql, mysql, sql_server, oracle, firebird };

/// How a statement text marks its parameters.
enum class Placeholders {
  dollar,    ///< $1 key, $2 owner, $3 milliseconds, $4 limit: libpq. Bound by number.
  numbered,  ///< ?1 key, ?2 owner, ?3 milliseconds, ?4 limit: SQLite. Bound by number.
  question,  ///< ?: MySQL prepared statements, ODBC. One parameter per occurrence.
  named,     ///< :p1, :p2, …: SOCI, which binds by position. One per occurrence.
};

/// The values statements take.
enum class Param : std::uint8_t {
  key,    ///< the lock's key (text)
  owner,  ///< the owner token (text); a semaphore's holder
  ms,     ///< a duration in milliseconds (bigint), or NULL for a lease that never expires
  limit,  ///< a semaphore's limit (bigint)
};

/// One statement: its text and the values to bind, in binding order (for `dollar` and `numbered`:
/// key, owner, milliseconds, or the first one or two of them; otherwise one per placeholder, in the
/// order they appear).
struct Statement {
  std::string text;
  std::vector<Param> params;
};

/// What a table's key column compares like, for MySQL/MariaDB tables verrou-cpp did not create
/// itself (`mysql_collation_is_exact`).
enum class KeyComparison {
  exact,    ///< byte for byte: the column's own `=` is used
  inexact,  ///< case-insensitive or PAD SPACE: every statement also compares the bytes
};

/// Options of `build`.
struct BuildOptions {
  Placeholders placeholders = Placeholders::question;
  /// MySQL/MariaDB: how the existing key column compares (statements add an exact comparison when
  /// it is inexact). Ignored by the other dialects, whose tables compare text byte for byte.
  KeyComparison keys = KeyComparison::exact;
  /// MySQL/MariaDB: the collation of the tables `create_tables` makes (`mysql_binary_collation`).
  std::string mysql_collation = "utf8mb4_bin";
};

/// Every statement of one lock table in one dialect. Parameters are listed after each.
struct Statements {
  Dialect dialect = Dialect::sqlite;
  std::string raw_table;      ///< the table name as given (already validated)
  std::string table;          ///< quoted
  std::string fencing_table;  ///< quoted name of the table of fencing counters
  std::string now;            ///< the server's clock in epoch milliseconds, rounded down
  /// PostgreSQL: the channel releases are announced on (`notification_channel`), and the class
  /// of the advisory locks waiters announce themselves with (`postgres_waiter_lock_class`);
  /// empty and 0 for the other dialects.
  std::string channel;
  std::int32_t waiter_lock_class = 0;

  /// Inserts the row: 1 row when inserted. When the key already has a row: 0 rows (SQLite,
  /// PostgreSQL, SQL Server), or a duplicate-key error (MySQL: plain INSERT, so a value the column
  /// cannot hold is an error, never a silently changed key; Oracle, Firebird).
  Statement insert;  // key, owner, ms
  /// Gives an expired row to a new owner: rows changed.
  Statement take_over;  // owner, ms, key
  /// Deletes the key's row. PostgreSQL: announces the release and returns one row with the number
  /// of rows deleted; the other dialects: rows affected.
  Statement remove;  // key
  /// Deletes the key's row when `owner` holds it live; as `remove`.
  Statement remove_owned;  // key, owner
  /// Extends a live row of `owner`: rows changed (on MySQL, 0 also when the new expiration equals
  /// the old one: `DatabaseStore` then reads the row back).
  Statement extend;  // ms, key, owner
  /// One row, when the key has one: owner, expiration (NULL: never), expired (0/1), milliseconds
  /// left (NULL: never).
  Statement get;  // key
  /// Listing (`verrou list`; SQLite, PostgreSQL, MySQL only, empty text elsewhere): the live
  /// rows whose key starts with the one parameter (bound as the key), by key: key, owner,
  /// milliseconds left (NULL: never), the key's fencing counter (NULL: none). Adapters append
  /// `LIMIT n` or stop reading.
  Statement list;  // key (the prefix)
  /// One row: the server's now.
  Statement now_query;
  /// Succeeds when the lock table exists.
  std::string probe;

  // Fencing tokens. The counter of a key lives in `fencing_table` (key, token) and is raised in the
  // same statement or transaction that takes the lock (see `FencedAcquire`).

  /// How the dialect takes a lock and raises its counter atomically.
  enum class FencedAcquire {
    /// PostgreSQL: `acquire_fenced` alone does both and returns the token (no row: held).
    one_statement,
    /// SQLite: in one transaction, `acquire` (1 row changed: taken), then `bump_token` and
    /// `read_token`.
    upsert_then_bump,
    /// MySQL/MariaDB: in one transaction, `insert`, then `bump_token` (its insert id is the
    /// token), sent as one multi-statement text (`mysql_fenced_insert_batch`); a duplicate-key
    /// error stops the server before the counter is touched, and a second round trip
    /// (`mysql_fenced_take_over_batch`, in a new transaction) tries `take_over` and
    /// `bump_token_if_taken` (0 rows: held). Without multi-statement texts, the steps of
    /// `generic`.
    mysql_batch,
    /// Other dialects: in one transaction, `take_over`, or when it took nothing `insert` (a
    /// duplicate-key error or 0 rows: held), then `bump_token` (rows changed; 0: the key has no
    /// counter yet, run `insert_token`), then `read_token`.
    generic,
  };
  FencedAcquire fenced = FencedAcquire::generic;
  Statement acquire_fenced;  // PostgreSQL: key, owner, ms → one row (token) when taken
  /// Insert or take over an expired row in one statement (SQLite, PostgreSQL: key, owner, ms;
  /// changes 1 row when taken).
  Statement acquire;
  Statement bump_token;           // key
  Statement bump_token_if_taken;  // key (MySQL: after take_over, in the same batch)
  Statement insert_token;  // key (generic: the first counter of a key, 1)
  Statement read_token;    // key → token

  // Semaphores. The holders of a key are rows of `semaphore_table` (key, holder, limit,
  // expiration), apart from the locks; the row whose holder is '' is the key's header, which
  // every admission locks first, so admissions of one key take turns (no owner token is
  // empty). An admission is one transaction: `lock_semaphore`, `prune_permits`,
  // `insert_permit`; each statement after the first reads the rows committed before it (a
  // new snapshot per statement in PostgreSQL's READ COMMITTED, locking reads in InnoDB, one
  // writer at a time in SQLite).

  std::string semaphore_table;  ///< quoted
  Statement lock_semaphore;     ///< key: creates or locks the key's header row
  Statement prune_permits;      ///< key: deletes the key's expired holders
  /// key, holder, limit, ms: adds the holder when fewer live holders than its limit and than
  /// the smallest limit among them hold a permit, and it holds none: 1 row when admitted.
  Statement insert_permit;
  Statement delete_permit;  ///< key, holder: the holder's live permit; rows deleted
  Statement extend_permit;  ///< ms, key, holder: the holder's live permit; rows changed
  Statement count_permits;  ///< key → the number of live holders
  Statement permit_held;    ///< key, holder → 1 when the holder has a live permit, else 0

  /// The statements creating the tables (locks, fencing counters, semaphore holders) when
  /// missing, in order. PostgreSQL: run them in one transaction after `create_lock`.
  std::vector<std::string> create_tables;
  /// PostgreSQL: makes concurrent creators take turns (a transaction-scoped advisory lock); empty
  /// elsewhere.
  std::string create_lock;
};

/// Builds the statements of `table` (a name `validate_sql_identifier` accepted). Thread safety:
/// pure.
Statements build(Dialect dialect, std::string_view table, const BuildOptions& options = {});

/// The quoted, inline form of `text` for `dialect` (a fixed literal in a statement).
std::string quote_literal(std::string_view text);

/// The table holding the fencing counters of lock table `table`: `<table>_fencing`, or, when that
/// would pass 63 characters (the identifier limit of PostgreSQL; MySQL allows 64), the first 38
/// characters, `_`, 16 hexadecimal digits of a hash of the whole name and `_fencing`. Thread
/// safety: pure.
std::string fencing_table_name(std::string_view table);

/// The table holding the semaphore holders of lock table `table`: `<table>_semaphores`, or, past
/// 63 characters, shortened as `fencing_table_name` does. Thread safety: pure.
std::string semaphore_table_name(std::string_view table);

/// The PostgreSQL notification channel of `table`: `verrou_` and 16 hexadecimal digits of the
/// FNV-1a hash of its name. Every adapter (native or SOCI) announces on and listens to this one
/// name, so any of them wakes the waiters of any other. Thread safety: pure.
std::string notification_channel(std::string_view table);

/// PostgreSQL: the first half of the two-integer advisory lock key on which waiters of `table`
/// announce themselves (a shared lock per waited key, `(class, hashtext(key))`); a release
/// notifies only when it cannot take that lock exclusively, i.e. when someone waits. Advisory
/// locks taken with two int4 keys never collide with those taken with one bigint key. Thread
/// safety: pure.
std::int32_t postgres_waiter_lock_class(std::string_view table);

/// PostgreSQL: the arguments of the advisory lock functions for the key in `key_sql` (an SQL
/// expression of type text or varchar): `<class>, hashtext(<key_sql>)`. Thread safety: pure.
std::string postgres_waiter_lock_args(std::int32_t lock_class, std::string_view key_sql);

/// A MySQL or MariaDB version string (`SELECT VERSION()`, `mysql_get_server_info`), read.
struct MysqlVersion {
  bool mariadb = false;
  unsigned major = 0, minor = 0, patch = 0;
};
MysqlVersion parse_mysql_version(std::string_view version);

/// The binary, non-padding collation verrou-cpp creates MySQL/MariaDB tables with, so keys compare
/// byte for byte: `utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on MySQL 8.0.17 and later
/// (where it first exists), otherwise `utf8mb4_bin` (which ignores trailing spaces).
std::string mysql_binary_collation(const MysqlVersion& version);

/// Whether a key column with collation `collation` (information_schema's COLLATION_NAME; empty or
/// "binary" for a binary column) compares keys byte for byte: binary, or `_bin` without padding
/// (`*_nopad_bin`, `utf8mb4_0900_bin`). Case-insensitive collations (`utf8mb4_general_ci`, MySQL
/// 8's default `utf8mb4_0900_ai_ci`, `latin1_swedish_ci`) and PAD SPACE ones (`utf8mb4_bin` on
/// MariaDB and MySQL 5.7) are not.
bool mysql_collation_is_exact(std::string_view collation);

/// The query that reads the collation of a table's key column: one row (COLLATION_NAME, possibly
/// NULL) when the table exists in the current database, none otherwise. It takes the raw table name
/// as its only parameter, written with `placeholders`.
Statement mysql_key_collation_query(Placeholders placeholders);

/// MySQL/MariaDB: the fenced acquire's first round trip, one multi-statement text: START
/// TRANSACTION; insert; bump_token; COMMIT, each statement's placeholders replaced by its quoted
/// values (`inline_values`). Results: OK, insert's (a duplicate-key error here: the key has a
/// row, and the transaction stays open until the second round trip), bump's (its insert id is the
/// token), OK.
std::string mysql_fenced_insert_batch(const Statements& statements,
                                      const std::vector<std::string>& insert,
                                      const std::vector<std::string>& bump);

/// MySQL/MariaDB: the second round trip, when the key has a row: ROLLBACK (the first one's open
/// transaction and its shared lock on that row); START TRANSACTION; take_over;
/// bump_token_if_taken; COMMIT. Results: OK, OK, take_over's, bump's (0 rows: held; otherwise its
/// insert id is the token), OK.
std::string mysql_fenced_take_over_batch(const Statements& statements,
                                         const std::vector<std::string>& take_over,
                                         const std::vector<std::string>& bump);

/// A semaphore admission as one multi-statement text (MySQL/MariaDB, PostgreSQL's simple-query
/// protocol): `begin` (START TRANSACTION or BEGIN); lock_semaphore; prune_permits;
/// insert_permit; COMMIT. `values(statement)` gives a statement's quoted values. The admission's
/// result is the fourth (1 row: admitted).
template <class Values>
std::string admission_batch(const Statements& s, const char* begin, Values&& values);

/// `statement.text` with its placeholders (`?`, or `:pN` of `Placeholders::named`) replaced by
/// `values` (already quoted for the server), in `statement.params` order. For the text protocol,
/// where a server refuses to prepare.
std::string inline_values(const Statement& statement, const std::vector<std::string>& values);

template <class Values>
std::string admission_batch(const Statements& s, const char* begin, Values&& values) {
  return std::string(begin) + ";" + inline_values(s.lock_semaphore, values(s.lock_semaphore)) +
         ";" + inline_values(s.prune_permits, values(s.prune_permits)) + ";" +
         inline_values(s.insert_permit, values(s.insert_permit)) + ";COMMIT";
}

}  // namespace verrou::detail::sql
