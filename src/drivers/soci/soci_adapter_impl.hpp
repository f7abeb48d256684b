// SPDX-License-Identifier: Apache-2.0
// What the SOCI adapter keeps: its sessions (a pool of its own, the application's pool or session),
// how a statement gets a session, and the statements of its dialect. SOCI's part only: the SQL
// comes from the dialect layer (drivers/database/dialect.hpp).
#pragma once

// clang-format off
#include "drivers/soci/soci_includes.hpp"
// clang-format on

#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "drivers/database/dialect.hpp"
#include "drivers/database/pool.hpp"
#include "verrou/drivers/soci.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace detail {

// The statements the adapter runs (sql::Statements members, and the collation query).
enum SociStmt : std::size_t {
  kSociInsert,
  kSociTakeOver,
  kSociRemove,
  kSociRemoveOwned,
  kSociExtend,
  kSociGet,
  kSociNow,
  kSociAcquire,
  kSociAcquireFenced,
  kSociBumpToken,
  kSociInsertToken,
  kSociReadToken,
  kSociLockSemaphore,
  kSociPrunePermits,
  kSociInsertPermit,
  kSociDeletePermit,
  kSociExtendPermit,
  kSociCountPermits,
  kSociPermitHeld,
  kSociCollation,
  kSociStmtCount
};

struct SociPrepared;

// A session of the store's own pool, with the statements prepared on it.
struct OwnSession {
  std::unique_ptr<soci::session> session;
  std::array<std::unique_ptr<SociPrepared>, kSociStmtCount> prepared{};
  bool multi_statements = false;  // mysql backend: the session takes multi-statement texts

  OwnSession();
  OwnSession(const OwnSession&) = delete;
  OwnSession& operator=(const OwnSession&) = delete;
  ~OwnSession();  // statements before their session
};

// An idle session of the store's own pool is still usable when its socket has nothing to read.
bool idle_session_healthy(soci::session& s);
// SOCI's is_connected, never throwing.
bool session_connected(soci::session& s) noexcept;
// Registers the backends linked into verrou, so `soci::session(name, …)` needs no dlopen.
void register_linked_soci_backends();
// Keeps an ODBC session's autocommit off when the application had switched it off: SOCI's ODBC
// backend switches it back on whenever a transaction ends. Does nothing elsewhere.
class KeepAutocommitOff {
 public:
  explicit KeepAutocommitOff(soci::session& session);
  ~KeepAutocommitOff();
  KeepAutocommitOff(const KeepAutocommitOff&) = delete;
  KeepAutocommitOff& operator=(const KeepAutocommitOff&) = delete;

 private:
  soci::session& session_;
  bool off_ = false;
};

// Whether `e` reports a duplicate key (a row with that key exists).
bool is_duplicate_key(const soci::soci_error& e);
// mysql backend: lets the store's own session take multi-statement texts (the fenced acquire in one
// round trip). Does nothing on other backends.
void enable_multi_statements(OwnSession& own);

}  // namespace detail

struct SociAdapter::Impl {
  SociStoreOptions options;
  std::string server;  // for messages
  std::vector<std::string> secrets;
  std::unique_ptr<detail::ConnectionPool<detail::OwnSession>> own_pool;
  bool in_memory = false;  // an in-memory SQLite database
  // Who may use options.session: a flag under a mutex, so a caller can wait with a timeout
  // (std::timed_mutex would do, but its clocked lock is invisible to ThreadSanitizer).
  std::mutex session_mutex;
  std::condition_variable session_free;
  bool session_busy = false;
  std::string table = "verrou";

  // The statements, built on first use (resolving the dialect may need a session). Replaced ones
  // are kept until the adapter goes, as other threads may still read them.
  std::mutex sql_mutex;
  std::vector<std::unique_ptr<const detail::sql::Statements>> sql_storage;
  std::atomic<const detail::sql::Statements*> sql_ptr{nullptr};

  // --- soci_session.cpp

  // The database's message, without SOCI's echo of the statement and its bound values (which
  // include owner tokens) and never with a password.
  [[nodiscard]] std::string clean(std::string message) const;
  [[noreturn]] void fail(std::string_view operation, const std::string& cause) const;
  std::unique_ptr<detail::OwnSession> connect() const;

  // Failures after which the statement did nothing, so running it again is safe: SQLite's "database
  // is locked", a deadlock victim (InnoDB's 1213, PostgreSQL's 40P01).
  struct Busy {
    std::string cause;
  };
  [[nodiscard]] bool busy(const std::string& cause) const;
  // A session of the application's that lost its connection is asked to reconnect.
  static void repair(soci::session& session) noexcept;
  detail::sql::Dialect resolve_dialect();
  // The statements, built on first use.
  const detail::sql::Statements& sql();
  void forget_statements();

  // --- soci_statements.cpp

  std::optional<DatabaseLockRow> read(const std::string& key);
  std::optional<std::uint64_t> acquire_fenced(const std::string& key, const std::string& owner,
                                              std::optional<Duration> ttl);
  bool insert_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                     std::optional<Duration> ttl);
  // A statement returning one number (count_permits, permit_held).
  std::int64_t number(std::string_view operation, detail::SociStmt kind,
                      const detail::sql::Statement& (*pick)(const detail::sql::Statements&),
                      const std::string& key, const std::string* holder);
  // Whether writes on `session` must be committed explicitly: Oracle and Firebird sessions never
  // commit by themselves, nor does a MySQL or ODBC session the application switched autocommit off
  // on.
  bool needs_commit(soci::session& session);

  // Runs `f()`, inside a transaction committed at the end when `session` does not autocommit
  // (`needs_commit`): otherwise a write would stay invisible to every other client, and a read keep
  // its snapshot.
  template <class F>
  auto committed(soci::session& session, F&& f) {
    if (!needs_commit(session)) return f();
    detail::KeepAutocommitOff keep(session);
    soci::transaction tr(session);
    auto result = f();
    tr.commit();
    return result;
  }

  // --- soci_store.cpp

  // Runs one statement of the dialect as its own operation: rows affected.
  std::uint64_t run_one(std::string_view operation, detail::SociStmt kind,
                        const detail::sql::Statement& (*pick)(const detail::sql::Statements&),
                        const std::string& key, const std::string* owner,
                        std::optional<long long> ms);

  // Runs `f(session, own)` on a leased session (`own`: the store's own session, or nullptr for the
  // application's), turning SOCI's errors into LockStorageError and retrying what `busy` says did
  // nothing, for up to 10 s.
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
        if (!detail::session_connected(*lease->session)) lease.discard();
        fail(operation, cause);
      }
    }
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(options.wait_timeout);
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
        return f(session, static_cast<detail::OwnSession*>(nullptr));
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
      return f(*options.session, static_cast<detail::OwnSession*>(nullptr));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::string cause = e.what();
      if (busy(cause)) throw Busy{std::move(cause)};
      repair(*options.session);
      fail(operation, cause);
    }
  }
};

namespace detail {

// What one statement returned: rows affected (or, for a PostgreSQL release, the count it returns)
// and whether it gave a row.
struct SociOutcome {
  std::uint64_t rows = 0;
  bool got_row = false;
};

// What statements bind and read. SOCI binds variables by reference, so they live here, beside the
// statement, for as long as it does.
struct SociExchange {
  std::string key;
  std::string owner;
  long long ms = 0;
  soci::indicator ms_ind = soci::i_null;
  std::string out_owner;
  soci::indicator out_owner_ind = soci::i_ok;
  long long out_expiration = 0;
  soci::indicator out_expiration_ind = soci::i_ok;
  int out_expired = 0;
  soci::indicator out_expired_ind = soci::i_ok;
  long long out_remaining = 0;
  soci::indicator out_remaining_ind = soci::i_ok;
  long long number = 0;
  soci::indicator number_ind = soci::i_ok;
  long long limit = 0;

  void set_ms(std::optional<long long> value) {
    ms = value.value_or(0);
    ms_ind = value ? soci::i_ok : soci::i_null;
  }
};

// Runs statement `kind` (text `statement`) with the inputs in `x` on `session`; outputs land in
// `x`. On PostgreSQL sessions of the store's own pool (`own`), statements are prepared once per
// session; elsewhere they are one-time queries (nothing left on the application's sessions; on
// SQLite no finished statement keeps a read snapshot).
SociOutcome run_soci(soci::session& session, OwnSession* own, const sql::Statements& sql,
                     SociStmt kind, const sql::Statement& statement, SociExchange& x);

}  // namespace detail
}  // namespace verrou
