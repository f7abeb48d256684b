// SPDX-License-Identifier: Apache-2.0
//
// drivers/postgres.hpp: locks in PostgreSQL (libpq), with waiters woken by LISTEN/NOTIFY.
//
// Expiry is judged by the PostgreSQL server's clock inside each statement, so clients whose
// clocks disagree still agree on who holds a lock. A waiting `acquire` announces itself, a
// release of a lock someone waits for sends a notification from the same statement, and the
// waiter takes the lock moments later instead of sleeping out its retry delay
// (docs/postgres.md).
//
//   verrou::Verrou locks({
//       .default_store = "pg",
//       .stores = {{"pg", verrou::postgres_store(
//                              {.conninfo = "postgres://app:secret@db:5432/app"})}},
//   });
//   // or: verrou::open_store("postgres://app:secret@db:5432/app?table=locks&pool_size=8")
//
// URL options: `table` (default verrou), `pool_size` (default 4), `connect_timeout` and
// `query_timeout` (durations, default 5s and 10s), `auto_create_table` and `fencing_tokens`
// (default true); and these libpq settings, passed through: `sslmode`, `sslrootcert`,
// `sslcert`, `sslkey`, `application_name`, `options`, `target_session_attrs`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "verrou/drivers/database.hpp"
#include "verrou/duration.hpp"
#include "verrou/store.hpp"

struct pg_conn;  // libpq's PGconn

namespace verrou {
namespace detail::pg {
class Listener;
}  // namespace detail::pg

/// Options of the PostgreSQL store.
struct PostgresStoreOptions {
  /// Where to connect: a `postgres://` URI or a `key=value` connection string, anything
  /// libpq accepts (without verrou's own URL options). Ignored when `connection` is given.
  std::string conninfo{};
  /// The lock table (`DatabaseStoreOptions::table_name`). Default `verrou`.
  std::string table_name = "verrou";
  /// Creates the table when missing (safe when several processes start at once). Default true.
  bool auto_create_table = true;
  /// Fencing tokens (`Lock::fencing_token()`), from a counter raised in the transaction that
  /// takes the lock (docs/database.md). False: no tokens, and an acquisition is the single
  /// statement it was before tokens (a little cheaper; no `<table>_fencing` needed). Default
  /// true; URL option `fencing_tokens`.
  bool fencing_tokens = true;
  /// Most connections open at once for statements: threads beyond this wait for a free one.
  /// A `PostgresStore` opens one more, listening connection once something waits, shared by
  /// all its waiting `acquire` calls: at most `pool_size + 1` connections. Default 4.
  std::size_t pool_size = 4;
  /// Longest wait for a new connection (unless `conninfo` sets `connect_timeout`). Default 5 s.
  Duration connect_timeout{5000};
  /// Longest wait for a statement's reply; past it the statement is cancelled, the call
  /// throws `LockStorageError`, and the connection is dropped (the application's
  /// `connection` is drained instead, and stays usable). Default 10 s.
  Duration query_timeout{10000};
  /// An open connection the application owns, to use instead of `conninfo`: the store runs
  /// one statement at a time on it (threads take turns), never closes it, never LISTENs on
  /// it, and polls instead of waiting for notifications. A statement past `query_timeout` is
  /// cancelled and its reply read, so the connection stays in step. The application must not
  /// use it while the store may. nullptr (the default): the store opens its own connections.
  ::pg_conn* connection = nullptr;
  /// This client's wall clock. It never decides expiry (the server's clock does); it only
  /// stamps the time a waited-for lock was taken. Empty: `std::chrono::system_clock::now`.
  std::function<std::chrono::system_clock::time_point()> clock{};
};

/// The `DatabaseAdapter` for PostgreSQL: prepared statements on a pool of connections,
/// "now" is the server's `clock_timestamp()`, a release of a lock a waiter has announced
/// itself for (`waiter_lock_class`) sends a `NOTIFY` on a channel derived from the table
/// name (payload: the key). A connection that fails is dropped and replaced on next use, so
/// the store recovers by itself when the server is back. Throws `LockStorageError` naming
/// the server (host:port) and the operation.
/// Thread safety: all members may be called concurrently (each call borrows a connection).
class PostgresAdapter final : public DatabaseAdapter {
 public:
  /// Connects lazily (on first use). Throws `InvalidArgumentError` for empty `conninfo`
  /// without `connection`, a malformed `conninfo` (the message hides its passwords), or zero
  /// sizes and timeouts.
  explicit PostgresAdapter(PostgresStoreOptions options);
  ~PostgresAdapter() override;
  PostgresAdapter(const PostgresAdapter&) = delete;
  PostgresAdapter& operator=(const PostgresAdapter&) = delete;

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
  /// True: one statement takes the lock and raises the key's counter in `<table>_fencing`.
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
  /// The notification channel releases of this table are announced on.
  [[nodiscard]] const std::string& channel() const;
  /// "host:port" of the server, for messages.
  [[nodiscard]] const std::string& server() const;
  /// The first half of the advisory lock key waiters of this table announce themselves with:
  /// while a key is waited for, the store's listening connection holds
  /// `pg_advisory_lock_shared(waiter_lock_class(), hashtext(key))`, and a release notifies
  /// only when it cannot take that lock exclusively (docs/postgres.md).
  [[nodiscard]] std::int32_t waiter_lock_class() const;

 private:
  friend class PostgresStore;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The PostgreSQL store: a `DatabaseStore` whose waiters are woken by LISTEN/NOTIFY.
/// `save_waiting` tries once; when the lock is held, it announces the key on the store's
/// listening connection (one per store, read by a thread of its own, replaced in the
/// background when it drops) and tries again, then sleeps until a release of its key is
/// notified, the holder's lease runs out by the server's clock, or `until`. On the
/// application's `connection`, it polls instead.
/// Thread safety: all members may be called concurrently.
class PostgresStore final : public DatabaseStore, public WaitableLockStore {
 public:
  /// Makes the adapter and the store. Throws as `PostgresAdapter` and `DatabaseStore` do.
  explicit PostgresStore(PostgresStoreOptions options);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  std::optional<Acquired> save_waiting(
      const std::string& key, const std::string& owner, std::optional<Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;
  /// As `DatabaseStore::remove`; also wakes this store's own waiters of the key at once.
  void remove(const std::string& key, const std::string& owner) override;
  /// As `DatabaseStore::force_remove`; also wakes this store's own waiters of the key at once.
  void force_remove(const std::string& key) override;

  /// The adapter the store runs on.
  [[nodiscard]] PostgresAdapter& postgres() const { return *postgres_; }

 private:
  PostgresStore(std::shared_ptr<PostgresAdapter> adapter, const PostgresStoreOptions& options);
  std::shared_ptr<PostgresAdapter> postgres_;
  std::function<std::chrono::system_clock::time_point()> clock_;
  std::unique_ptr<detail::pg::Listener> listener_;  // none on the application's connection
};

/// The PostgreSQL store for `options`: a `PostgresStore`, or a plain `DatabaseStore` (which
/// polls) over an application's `connection`. Throws as `PostgresStore` does.
std::shared_ptr<DatabaseStore> make_postgres_store(PostgresStoreOptions options);

/// A `StoreFactory` making a store with `make_postgres_store(options)`.
StoreFactory postgres_store(PostgresStoreOptions options);

}  // namespace verrou
