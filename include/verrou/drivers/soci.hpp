// SPDX-License-Identifier: Apache-2.0
//
// drivers/soci.hpp: locks in any database SOCI reaches (SQLite, PostgreSQL, MySQL/MariaDB,
// ODBC to SQL Server, Oracle, Firebird, …), in the application's own database.
//
// A `DatabaseAdapter` over SOCI: give it a backend name and SOCI connection string (the store
// keeps a small pool of sessions), or the application's `soci::connection_pool`. The SQL
// dialect follows the backend; through ODBC it is read from the driver (or given). Expiry is
// judged by the database server's clock, as with the native SQL stores, and the table is
// Verrou's own (`key`, `owner`, `expiration`), so every store and Verrou for Node.js can share it.
//
//   verrou::Verrou locks({
//       .default_store = "db",
//       .stores = {{"db", verrou::soci_store({
//                             .backend = "postgresql",
//                             .connection_string = "host=db dbname=app user=app password=secret",
//                         })}},
//   });
//   // the application's pool:   verrou::soci_store({.pool = app_pool})
//   // from a URL (docs/soci.md): verrou::open_store(
//   //     "soci://app:secret@postgresql/host=db%20dbname=app?table=locks")
//
// URL: `soci://[user[:password]@]<backend>/<SOCI connection string>[?options]`, the
// connection string percent-encoded (a space is %20, '?' %3F, '#' %23, '%' %25). User and
// password, when given, are added to the connection string in the backend's syntax (and are
// hidden by `redact_url`). Options: `dialect`, `table`, `pool_size`, `wait_timeout`, `fencing_tokens`,
// `auto_create_table`. See docs/soci.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/drivers/database.hpp"
#include "verrou/duration.hpp"
#include "verrou/export.hpp"
#include "verrou/store.hpp"

namespace soci {
class connection_pool;
class session;
}  // namespace soci

namespace verrou {

/// The SQL a SOCI store writes. `automatic` picks it from the session's backend (`sqlite3`,
/// `postgresql`, `mysql`, `oracle`, `firebird`) or, through `odbc`, from the DBMS the ODBC
/// driver reports. `sql_server`, `oracle` and `firebird` follow those databases' documented
/// SQL but are not tested by verrou-cpp's CI (no such server runs there).
enum class SociDialect {
  automatic,   ///< from the backend name, or the ODBC driver's DBMS
  sqlite,      ///< SQLite 3.24 or later (tested)
  postgresql,  ///< PostgreSQL 9.5 or later (tested, natively and through ODBC)
  mysql,       ///< MySQL 5.7+ / MariaDB 10.3+ (tested on MariaDB)
  sql_server,  ///< Microsoft SQL Server 2016 or later (untested)
  oracle,      ///< Oracle Database 12c or later (untested)
  firebird,    ///< Firebird 4 or later (untested)
};

/// The dialect's name as the URL option `dialect` spells it: `auto`, `sqlite`, `postgresql`,
/// `mysql`, `sqlserver`, `oracle`, `firebird`. Thread safety: pure.
VERROU_EXPORT std::string_view to_string(SociDialect dialect);

/// Reads a dialect name (as `to_string` writes it; also `postgres`, `mariadb`, `mssql`,
/// `sqlite3`). Throws `InvalidArgumentError` listing the valid names. Thread safety: pure.
VERROU_EXPORT SociDialect parse_soci_dialect(std::string_view name);

/// Options of the SOCI store. Give exactly one of `connection_string` (with `backend`),
/// `pool` or `session`.
struct SociStoreOptions {
  /// SOCI backend name: `sqlite3`, `postgresql`, `mysql`, `odbc`, `firebird`, or any other
  /// backend SOCI can load. Required with `connection_string`.
  std::string backend{};
  /// The backend's connection string, as `soci::session` takes it (e.g. `dbname=app
  /// host=db user=app password=…` for postgresql, `db=/var/lib/app.db` for sqlite3,
  /// `DRIVER={PostgreSQL Unicode};SERVER=db;…` for odbc). The store opens up to `pool_size`
  /// sessions with it, lazily.
  std::string connection_string{};
  /// The application's pool, instead of a connection string: each operation leases one
  /// session for one statement and gives it back. To pass a pool the application owns
  /// elsewhere: `std::shared_ptr<soci::connection_pool>(&pool, [](auto*) {})` (it must then
  /// outlive the store).
  std::shared_ptr<soci::connection_pool> pool{};
  /// The application's session, instead of a connection string: the store runs one statement
  /// at a time on it (a mutex), never closes it, and needs it to outlive the store. The
  /// application must not use it while the store may.
  soci::session* session = nullptr;
  /// The SQL dialect; `automatic` (the default) reads it from the backend.
  SociDialect dialect = SociDialect::automatic;
  /// The lock table (`DatabaseStoreOptions::table_name`). Default `verrou`.
  std::string table_name = "verrou";
  /// Creates the table when missing (safe when several processes start at once). Default true.
  bool auto_create_table = true;
  /// Fencing tokens (`Lock::fencing_token()`), from a counter raised in the transaction that
  /// takes the lock (docs/database.md). False: no tokens, and an acquisition is the single
  /// statement it was before tokens (a little cheaper; no `<table>_fencing` needed). Default
  /// true; URL option `fencing_tokens`.
  bool fencing_tokens = true;
  /// Most sessions the store opens from `connection_string`; threads beyond this wait for a
  /// free one. An in-memory SQLite database always uses one. Default 4.
  std::size_t pool_size = 4;
  /// Longest wait for a free session (own pool, the application's pool, or its session);
  /// past it the call throws `LockStorageError`. Default 30 s.
  Duration wait_timeout{30000};
};

/// The `DatabaseAdapter` over SOCI. Each statement runs on one leased session; "now" is the
/// database server's clock in each dialect's SQL; a session of its own pool that lost its
/// connection is dropped and replaced on next use (a session of the application's pool is
/// asked to `reconnect()`). Failures throw `LockStorageError` naming the backend, the server
/// (host:port or file, never the password) and the operation.
/// Thread safety: all members may be called concurrently (each call leases a session).
class VERROU_EXPORT SociAdapter final : public DatabaseAdapter {
 public:
  /// Checks the options; connects lazily (on first use). Throws `InvalidArgumentError` when
  /// not exactly one of connection string, pool and session is given, when `backend` is
  /// missing, or for a zero `pool_size` or `wait_timeout`.
  explicit SociAdapter(SociStoreOptions options);
  ~SociAdapter() override;
  SociAdapter(const SociAdapter&) = delete;
  SociAdapter& operator=(const SociAdapter&) = delete;

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
  /// True: the lock and the key's counter in `<table>_fencing` change in one statement or
  /// transaction, in every dialect.
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

  /// The dialect in use, resolving `automatic` (which may connect to ask an ODBC driver).
  /// Throws `InvalidArgumentError` when it cannot be told (give `dialect`), or
  /// `LockStorageError` when the database cannot be reached.
  SociDialect dialect();
  /// Epoch milliseconds by the database server's clock.
  std::int64_t database_now();
  /// "backend host:port" (or the database file) for messages; never the password.
  [[nodiscard]] const std::string& server() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Makes a `DatabaseStore` over a `SociAdapter`. Throws as `SociAdapter` and `DatabaseStore`
/// do (creating the table connects).
VERROU_EXPORT std::shared_ptr<DatabaseStore> make_soci_store(SociStoreOptions options);

/// A `StoreFactory` making the SOCI store with `options` on first use.
VERROU_EXPORT StoreFactory soci_store(SociStoreOptions options);

}  // namespace verrou
