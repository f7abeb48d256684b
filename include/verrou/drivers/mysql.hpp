// SPDX-License-Identifier: Apache-2.0
//
// drivers/mysql.hpp: locks in MySQL or MariaDB (MariaDB Connector/C).
//
// Expiry is judged by the database server's clock inside each statement, so clients whose
// clocks disagree still agree on who holds a lock. Waiters poll (MySQL has no notifications).
//
//   verrou::Verrou locks({
//       .default_store = "mysql",
//       .stores = {{"mysql", verrou::mysql_store({.host = "db", .user = "app",
//                                                  .password = "secret", .database = "app"})}},
//   });
//   // or: verrou::open_store("mysql://app:secret@db:3306/app?table=locks")   (or mariadb://)
//
// URL options: `table` (default verrou), `pool_size` (default 4), `connect_timeout` and
// `query_timeout` (durations, whole seconds, default 5s and 10s), `auto_create_table`,
// `fencing_tokens`, `prepared_statements` (each default true).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "verrou/drivers/database.hpp"
#include "verrou/duration.hpp"
#include "verrou/store.hpp"

struct st_mysql;  // Connector/C's MYSQL

namespace verrou {

/// Options of the MySQL/MariaDB store.
struct MysqlStoreOptions {
  std::string host = "127.0.0.1";  ///< server host name or address
  unsigned port = 3306;            ///< server TCP port
  std::string user{};              ///< user name
  std::string password{};          ///< password; never shown in messages
  std::string database{};          ///< database (schema) holding the lock table; required
  /// The lock table (`DatabaseStoreOptions::table_name`). Default `verrou`. Created with a
  /// binary, non-padding collation (`utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on
  /// MySQL 8), so keys compare byte for byte as in every other store. (MySQL 5.7 has only
  /// `utf8mb4_bin`, which ignores trailing spaces: there "k" and "k " are one key.)
  std::string table_name = "verrou";
  /// Creates the table when missing. Default true.
  bool auto_create_table = true;
  /// Fencing tokens (`Lock::fencing_token()`), from a counter raised in the transaction that
  /// takes the lock (docs/database.md). False: no tokens, and an acquisition is the single
  /// statement it was before tokens (a little cheaper; no `<table>_fencing` needed). Default
  /// true; URL option `fencing_tokens`.
  bool fencing_tokens = true;
  /// Most connections open at once: threads beyond this wait for a free one. Default 4.
  std::size_t pool_size = 4;
  /// Longest wait for a new connection (whole seconds, at least 1). Default 5 s.
  Duration connect_timeout{5000};
  /// Longest wait for each read or write of a statement's exchange (whole seconds, at
  /// least 1); past it the connection is dropped and the call throws `LockStorageError`.
  /// Default 10 s.
  Duration query_timeout{10000};
  /// Server-side prepared statements (binary protocol), prepared once per connection: the
  /// server parses each statement once instead of on every call. A statement the server
  /// refuses to prepare runs as text anyway. False: every statement as text (for a proxy that
  /// mishandles prepared statements). The fenced acquire is always one multi-statement text.
  /// Default true; URL option `prepared_statements`.
  bool prepared_statements = true;
  /// An open connection the application owns, to use instead of connecting: the store runs
  /// one statement at a time on it and never closes it. It must use the `utf8mb4` character
  /// set. The store leaves its session as it is (time zone, options), and needs neither
  /// CLIENT_FOUND_ROWS nor CLIENT_MULTI_STATEMENTS (without the latter, an acquisition takes
  /// one round trip per statement of its transaction instead of one in all). If it breaks, the store cannot reconnect it. nullptr
  /// (the default): the store opens its own connections.
  ::st_mysql* connection = nullptr;
};

/// The `DatabaseAdapter` for MySQL and MariaDB: a pool of connections, "now" is the server's
/// `NOW(3)` in UTC. A connection that fails is dropped and replaced on next use, so the store
/// recovers by itself when the server is back. Throws `LockStorageError` naming the server
/// (host:port) and the operation.
/// Thread safety: all members may be called concurrently (each call borrows a connection).
class MysqlAdapter final : public DatabaseAdapter {
 public:
  /// Connects lazily (on first use). Throws `InvalidArgumentError` for a missing database
  /// or host (without `connection`), or zero sizes and timeouts.
  explicit MysqlAdapter(MysqlStoreOptions options);
  ~MysqlAdapter() override;
  MysqlAdapter(const MysqlAdapter&) = delete;
  MysqlAdapter& operator=(const MysqlAdapter&) = delete;

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
  /// True: one transaction takes the lock and raises the key's counter in `<table>_fencing`.
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

  /// Epoch milliseconds by the server's clock.
  std::int64_t database_now();
  /// "host:port" of the server, for messages.
  [[nodiscard]] const std::string& server() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A `DatabaseStore` on MySQL/MariaDB. Throws as `MysqlAdapter` and `DatabaseStore` do.
std::shared_ptr<DatabaseStore> make_mysql_store(MysqlStoreOptions options);

/// A `StoreFactory` making a store with `make_mysql_store(options)`.
StoreFactory mysql_store(MysqlStoreOptions options);

}  // namespace verrou
