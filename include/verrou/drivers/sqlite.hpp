// SPDX-License-Identifier: Apache-2.0
//
// drivers/sqlite.hpp: locks in an SQLite database file (libsqlite3), or in memory.
//
// A database file is shared by every process of one machine that opens it, so it serves as a
// lock store for cron jobs and scripts with no server at all (the `verrou` command's default).
// The file is put in WAL mode, and a busy timeout makes concurrent processes wait for each
// other instead of failing.
//
//   verrou::Verrou locks({
//       .default_store = "sqlite",
//       .stores = {{"sqlite", verrou::sqlite_store({.path = "/var/lib/myapp/locks.db"})}},
//   });
//   // or: verrou::open_store("sqlite:///var/lib/myapp/locks.db?busy_timeout=10s")
//   // or, for threads of one process only: verrou::open_store("sqlite::memory:")
//
// URL options: `table` (default verrou), `pool_size` (default 4), `busy_timeout` (a duration,
// default 5s), `auto_create_table` and `fencing_tokens` (default true).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "verrou/drivers/database.hpp"
#include "verrou/duration.hpp"
#include "verrou/store.hpp"

struct sqlite3;

namespace verrou {

/// Options of the SQLite store.
struct SqliteStoreOptions {
  /// Database file (created when missing), or `":memory:"` for a database private to this
  /// store. Ignored when `connection` is given.
  std::string path{};
  /// The lock table (`DatabaseStoreOptions::table_name`). Default `verrou`.
  std::string table_name = "verrou";
  /// Creates the table when missing. Default true.
  bool auto_create_table = true;
  /// Fencing tokens (`Lock::fencing_token()`), from a counter raised in the transaction that
  /// takes the lock (docs/database.md). False: no tokens, and an acquisition is the single
  /// statement it was before tokens (a little cheaper; no `<table>_fencing` needed). Default
  /// true; URL option `fencing_tokens`.
  bool fencing_tokens = true;
  /// Most connections open at once: threads beyond this wait for a free one. Default 4.
  /// An in-memory database always uses one connection (each SQLite in-memory connection is
  /// a database of its own), so its store's operations take turns.
  std::size_t pool_size = 4;
  /// How long a statement waits for another connection or process holding the database's
  /// write lock before failing with `LockStorageError`. Default 5 s.
  Duration busy_timeout{5000};
  /// An open connection the application owns, to use instead of opening `path`: the store
  /// neither configures nor closes it and uses it for one statement at a time; the
  /// application must not use it from other threads unless it was opened in serialized
  /// mode, and must keep it open until the store is destroyed (the store keeps prepared
  /// statements on it). nullptr (the default): the store opens its own connections.
  ::sqlite3* connection = nullptr;
};

/// The `DatabaseAdapter` for SQLite: prepared statements on a pool of connections; "now" is
/// SQLite's own clock (`julianday('now')`), which on one machine every process shares.
/// Throws `LockStorageError` naming the database file and the operation.
/// Thread safety: all members may be called concurrently (each call borrows a connection).
class SqliteAdapter final : public DatabaseAdapter {
 public:
  /// Opens nothing yet: connections open on first use. Throws `InvalidArgumentError` when
  /// neither `path` nor `connection` is given, or for a zero `pool_size`/`busy_timeout`.
  explicit SqliteAdapter(SqliteStoreOptions options);
  ~SqliteAdapter() override;
  SqliteAdapter(const SqliteAdapter&) = delete;
  SqliteAdapter& operator=(const SqliteAdapter&) = delete;

  void set_table_name(const std::string& table) override;
  void create_table_if_not_exists() override;
  bool insert_lock(const std::string& key, const std::string& owner,
                   std::optional<Duration> ttl) override;
  std::uint64_t acquire_expired_lock(const std::string& key, const std::string& owner,
                                     std::optional<Duration> ttl) override;
  std::uint64_t delete_lock(const std::string& key,
                            const std::optional<std::string>& owner) override;
  std::uint64_t extend_lock(const std::string& key, const std::string& owner,
                            Duration duration) override;
  std::optional<DatabaseLockRow> get_lock(const std::string& key) override;
  /// True: the counters live in `<table>_fencing`, raised in the lock's transaction.
  [[nodiscard]] bool gives_fencing_tokens() const noexcept override;
  std::optional<std::uint64_t> acquire_fenced_lock(const std::string& key,
                                                   const std::string& owner,
                                                   std::optional<Duration> ttl) override;
  /// True: the holders live in `<table>_semaphores`, counted and added in one transaction.
  [[nodiscard]] bool gives_semaphores() const noexcept override;
  bool insert_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                     std::optional<Duration> ttl) override;
  std::uint64_t delete_permit(const std::string& key, const std::string& holder) override;
  std::uint64_t extend_permit(const std::string& key, const std::string& holder,
                              Duration duration) override;
  bool holds_permit(const std::string& key, const std::string& holder) override;
  std::uint32_t count_permits(const std::string& key) override;
  /// True: the live rows can be listed (`verrou list`).
  [[nodiscard]] bool lists_locks() const noexcept override { return true; }
  std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) override;

  /// Epoch milliseconds by the database's clock (what expirations are compared with).
  std::int64_t database_now();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A `DatabaseStore` on SQLite. Throws as `SqliteAdapter` and `DatabaseStore` do.
std::shared_ptr<DatabaseStore> make_sqlite_store(SqliteStoreOptions options);

/// A `StoreFactory` making a store with `make_sqlite_store(options)`.
StoreFactory sqlite_store(SqliteStoreOptions options);

}  // namespace verrou
