// SPDX-License-Identifier: Apache-2.0
//
// drivers/database.hpp: locks in any SQL database, through a small adapter.
//
// `DatabaseStore` holds the logic every SQL store shares: insert a row and let the primary key
// refuse a second holder, take over a row whose lease has run out, release and extend only for
// the owner. A `DatabaseAdapter` runs the few statements it needs against one database library.
// verrou-cpp ships adapters for SQLite, PostgreSQL and MySQL/MariaDB (`drivers/sqlite.hpp`,
// `drivers/postgres.hpp`, `drivers/mysql.hpp`); write one for any other library:
//
//   class MyAdapter : public verrou::DatabaseAdapter { ... };        // see docs/database.md
//   verrou::LockFactory locks(std::make_shared<verrou::DatabaseStore>(
//       verrou::DatabaseStoreOptions{.adapter = std::make_shared<MyAdapter>(conn)}));
//
// The table is Verrou's own, so C++ and Node.js services can share it:
//
//   CREATE TABLE verrou (
//     key        varchar(255) NOT NULL PRIMARY KEY,
//     owner      varchar(255) NOT NULL,
//     expiration bigint NULL              -- epoch milliseconds; NULL: never expires
//   );
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verrou/duration.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// The longest key and owner a SQL store accepts, in bytes: the `varchar(255)` columns of
/// Verrou's table. Longer keys get `InvalidArgumentError`, never a truncated key.
inline constexpr std::size_t kMaxDatabaseKeyLength = 255;

/// One row of the lock table, as `DatabaseAdapter::get_lock` reads it.
struct DatabaseLockRow {
  std::string owner;                      ///< the holder's owner token
  std::optional<std::int64_t> expiration;  ///< epoch milliseconds; nullopt: never expires
  bool expired = false;  ///< true when the database's own clock has passed `expiration`
};

/// The statements `DatabaseStore` needs from one database library. Implement it to keep
/// locks in a database verrou-cpp has no adapter for (docs/database.md walks through one).
///
/// Rules every adapter keeps, or two holders can share a lock:
/// - "now" is the database server's clock, read inside each statement (never the client's),
///   so clients whose clocks disagree still agree on who holds a lock;
/// - a row is *live* when `expiration IS NULL OR expiration > now`, *expired* otherwise;
/// - each operation is one atomic statement (or one transaction): no read-then-write races;
/// - the table name is an identifier already checked by `validate_sql_identifier`; quote it.
///
/// Failures throw `LockStorageError` naming the server and the operation.
///
/// Thread safety: `DatabaseStore` calls every member from many threads at once (except
/// `set_table_name`, called once before any other); an adapter must allow that, for example
/// with a connection pool.
class DatabaseAdapter {
 public:
  virtual ~DatabaseAdapter() = default;

  /// Sets the table the other members use. Called once, before any of them.
  virtual void set_table_name(const std::string& table) = 0;

  /// Creates the table (Verrou's schema above) if it does not exist. Must be safe when
  /// several processes call it at once on a fresh database.
  virtual void create_table_if_not_exists() = 0;

  /// Inserts a row for `key` held by `owner`, expiring `ttl` after the database's now
  /// (nullopt: expiration NULL). Returns false, without failing, when a row for `key`
  /// already exists (live or expired).
  virtual bool insert_lock(const std::string& key, const std::string& owner,
                           std::optional<Duration> ttl) = 0;

  /// Gives the row of `key` to `owner` with a new expiration (as `insert_lock`), but only
  /// when that row has expired. Returns the number of rows changed (0 or 1).
  virtual std::uint64_t acquire_expired_lock(const std::string& key, const std::string& owner,
                                             std::optional<Duration> ttl) = 0;

  /// Deletes the row of `key`. With `owner`: only when `owner` holds it and it is live.
  /// Without: whoever holds it. Returns the number of rows deleted (0 or 1).
  virtual std::uint64_t delete_lock(const std::string& key,
                                    const std::optional<std::string>& owner) = 0;

  /// Sets the expiration of `key` to the database's now + `duration`, but only when `owner`
  /// holds it and it is live. Returns the number of rows changed (0 or 1). A 0 is checked by
  /// reading the row back (`get_lock`), so an adapter whose database counts only rows whose
  /// value changed (MySQL without CLIENT_FOUND_ROWS) needs nothing more.
  virtual std::uint64_t extend_lock(const std::string& key, const std::string& owner,
                                    Duration duration) = 0;

  /// Reads the row of `key`, with `expired` judged by the database's clock; nullopt when
  /// there is no row.
  virtual std::optional<DatabaseLockRow> get_lock(const std::string& key) = 0;

  /// Optional, for fencing tokens: whether this adapter implements `acquire_fenced_lock`.
  /// Default false: the store then gives no tokens (`DatabaseStore::gives_fencing_tokens`).
  /// Thread safety: pure.
  [[nodiscard]] virtual bool gives_fencing_tokens() const noexcept { return false; }

  /// Optional, for fencing tokens: takes the lock as `insert_lock` and `acquire_expired_lock`
  /// do (a new row, or an expired row given to `owner`) and, in the same statement or
  /// transaction, raises the key's fencing counter by at least one and returns its new value;
  /// nullopt, changing nothing, when the key's row is live (whoever holds it, `owner` too).
  ///
  /// The counter must survive the row (releases delete rows) and the server's restarts: keep
  /// it in a table of its own, one row per key (verrou-cpp's adapters use
  /// `<table>_fencing (key, token)`, created by `create_table_if_not_exists`). Raising it in
  /// the transaction that takes the lock is what keeps tokens in the order holders hold the
  /// lock, whatever crashes and races happen; docs/database.md shows the statements.
  /// Thread safety: as the other members.
  virtual std::optional<std::uint64_t> acquire_fenced_lock(const std::string& key,
                                                           const std::string& owner,
                                                           std::optional<Duration> ttl);

  /// Optional, for `verrou list`: whether this adapter implements `list_locks`. Default false:
  /// the store then cannot list (`DatabaseStore::lists_locks`). Thread safety: pure.
  [[nodiscard]] virtual bool lists_locks() const noexcept { return false; }

  /// Optional, for `verrou list`: the live rows whose key starts with `prefix`, by key, at most
  /// `limit`, with the time left by the database's clock and the key's fencing counter (the
  /// holder's token when it took the lock with tokens). Thread safety: as the other members.
  virtual std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit);

  /// Optional, for semaphores: whether this adapter implements the permit members below.
  /// Default false: the store's semaphore calls then throw `InvalidArgumentError`.
  /// Thread safety: pure.
  [[nodiscard]] virtual bool gives_semaphores() const noexcept { return false; }

  /// Optional, for semaphores: in one transaction, admits `holder` to semaphore `key` when it
  /// has no live permit and fewer live holders than `limit`, and than the smallest limit among
  /// them, hold one; its lease ends `ttl` after the database's now (nullopt: never). Returns
  /// whether it was admitted. The count and the insertion must not interleave with another
  /// admission of the key (verrou-cpp's adapters lock a header row of the key first). Keep the
  /// holders apart from the locks (another table), so a lock and a semaphore of one name never
  /// meet.
  virtual bool insert_permit(const std::string& key, const std::string& holder,
                             std::uint32_t limit, std::optional<Duration> ttl);
  /// Optional, for semaphores: deletes `holder`'s live permit of `key`; rows deleted (0 or 1).
  virtual std::uint64_t delete_permit(const std::string& key, const std::string& holder);
  /// Optional, for semaphores: sets the lease of `holder`'s live permit of `key` to the
  /// database's now + `duration`; rows changed (0 or 1; a 0 is checked with `holds_permit`).
  virtual std::uint64_t extend_permit(const std::string& key, const std::string& holder,
                                      Duration duration);
  /// Optional, for semaphores: whether `holder` has a live permit of `key`.
  virtual bool holds_permit(const std::string& key, const std::string& holder);
  /// Optional, for semaphores: how many holders have a live permit of `key`.
  virtual std::uint32_t count_permits(const std::string& key);
};

/// Options of `DatabaseStore`.
struct DatabaseStoreOptions {
  /// Runs the statements; required.
  std::shared_ptr<DatabaseAdapter> adapter{};
  /// The lock table: letters, digits and `_`, not starting with a digit, at most 63
  /// characters (`validate_sql_identifier`). Default `verrou`, as Verrou's.
  std::string table_name = "verrou";
  /// Creates the table when the store is made, if it is missing. Default true.
  bool auto_create_table = true;
  /// Gives fencing tokens when the adapter can (`DatabaseAdapter::gives_fencing_tokens`). False:
  /// no tokens, and acquisitions use `insert_lock`/`acquire_expired_lock` as without them.
  /// Default true.
  bool fencing_tokens = true;
};

/// A lock store over any SQL database, through a `DatabaseAdapter`.
///
/// `save` inserts a row; when the key's row exists it takes the row over only if its lease
/// has expired by the database's clock. `remove` and `extend` act only for the owner of a
/// live row. Keys and owners are limited to `kMaxDatabaseKeyLength` bytes.
///
/// Fencing tokens (`FencingLockStore`) come from adapters that give them (all of
/// verrou-cpp's do; `DatabaseAdapter::gives_fencing_tokens`): every acquisition, `save`
/// included, then goes through `DatabaseAdapter::acquire_fenced_lock`. Semaphores
/// (`SemaphoreStore`) likewise come from adapters that have them
/// (`DatabaseAdapter::gives_semaphores`; verrou-cpp's SQLite, PostgreSQL, MySQL and SOCI
/// adapters, SOCI on those three databases); on other adapters the semaphore calls throw
/// `InvalidArgumentError`.
///
/// Thread safety: all members may be called concurrently, as far as the adapter allows
/// (the adapters of verrou-cpp do).
class DatabaseStore : public LockStore,
                      public FencingLockStore,
                      public SemaphoreStore,
                      public ListableLockStore {
 public:
  /// Checks the options, sets the adapter's table and creates the table when
  /// `auto_create_table`. Throws `InvalidArgumentError` for a missing adapter or a bad table
  /// name, and what the adapter throws (`LockStorageError`) when it cannot create the table.
  explicit DatabaseStore(DatabaseStoreOptions options);
  ~DatabaseStore() override;
  DatabaseStore(const DatabaseStore&) = delete;
  DatabaseStore& operator=(const DatabaseStore&) = delete;

  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override;
  void remove(const std::string& key, const std::string& owner) override;
  void force_remove(const std::string& key) override;
  bool exists(const std::string& key) override;
  void extend(const std::string& key, const std::string& owner, Duration duration) override;

  /// As `save`, returning the acquisition's fencing token. Throws `InvalidArgumentError` when
  /// the adapter gives no tokens (`gives_fencing_tokens` is false).
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<Duration> ttl) override;
  /// The adapter's `gives_fencing_tokens`.
  [[nodiscard]] bool gives_fencing_tokens() const noexcept override { return fencing_; }

  /// Semaphores (`SemaphoreStore`), through the adapter's permit members. Throw
  /// `InvalidArgumentError` for bad input, or when the adapter has no semaphores
  /// (`DatabaseAdapter::gives_semaphores`); `remove_permit` and `extend_permit` throw
  /// `LockNotOwnedError` when `holder` has no live permit.
  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<Duration> ttl) override;
  void remove_permit(const std::string& key, const std::string& holder) override;
  void extend_permit(const std::string& key, const std::string& holder,
                     Duration duration) override;
  std::uint32_t count_permits(const std::string& key) override;

  /// The locks held now (`ListableLockStore`), through the adapter. Throws
  /// `InvalidArgumentError` when the adapter cannot list (`lists_locks` is false).
  std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) override;
  /// The adapter's `lists_locks`.
  [[nodiscard]] bool lists_locks() const noexcept override { return adapter_->lists_locks(); }

  /// The adapter the store runs on.
  [[nodiscard]] const std::shared_ptr<DatabaseAdapter>& adapter() const { return adapter_; }
  /// The lock table's name.
  [[nodiscard]] const std::string& table_name() const { return table_; }

 private:
  bool still_held_by(const std::string& key, const std::string& owner);

  std::shared_ptr<DatabaseAdapter> adapter_;
  std::string table_;
  bool fencing_ = false;
};

/// A `StoreFactory` making a `DatabaseStore` with `options`.
StoreFactory database_store(DatabaseStoreOptions options);

/// Checks a table name: 1 to 63 characters, ASCII letters, digits and `_`, not starting with
/// a digit. Throws `InvalidArgumentError` saying what is valid. Thread safety: pure.
void validate_sql_identifier(std::string_view name);

/// `name` quoted as an SQL identifier with `quote` (`"` for standard SQL, PostgreSQL and
/// SQLite; `` ` `` for MySQL), doubling any quote inside. Thread safety: pure.
std::string quote_sql_identifier(std::string_view name, char quote = '"');

}  // namespace verrou
