// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/postgres.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "detail/driver_registry.hpp"
#include "detail/store_factory.hpp"
#include "detail/store_options.hpp"
#include "detail/url.hpp"
#include "drivers/database/adapter_store.hpp"
#include "drivers/database/dialect.hpp"
#include "drivers/database/pool.hpp"
#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/conninfo.hpp"
#include "drivers/postgres/listener.hpp"
#include "drivers/postgres/waiters.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {
namespace {

using steady = std::chrono::steady_clock;
using detail::pg::Reply;
using detail::pg::Result;

// The statements, from the SQL dialect layer (drivers/database/dialect.hpp), prepared once per
// connection under these names.
enum Stmt : std::size_t {
  kInsert, kTakeOver, kDelete, kDeleteOwned, kExtend, kGet, kNowQ, kAcquireFenced,
  kDeletePermit, kExtendPermit, kCountPermits, kPermitHeld, kCount
};
constexpr std::array<const char*, kCount> kStmtNames = {
    "verrou_insert", "verrou_take_over", "verrou_delete", "verrou_delete_owned",
    "verrou_extend", "verrou_get",       "verrou_now",    "verrou_acquire_fenced",
    "verrou_delete_permit", "verrou_extend_permit", "verrou_count_permits", "verrou_permit_held"};

// SQLSTATE duplicate_prepared_statement: the name is taken on this session already.
constexpr std::string_view kDuplicatePrepared = "42P05";

struct Connection {
  PGconn* pg = nullptr;
  bool owned = true;
  bool terminated = false;  // the server said it ends the session (watch_for_termination)
  std::array<bool, kCount> prepared{};

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (owned && pg != nullptr) PQfinish(pg);
  }
};

std::uint64_t to_count(const char* text) {
  std::uint64_t n = 0;
  for (const char* p = text; p != nullptr && *p >= '0' && *p <= '9'; ++p) {
    n = n * 10 + static_cast<std::uint64_t>(*p - '0');
  }
  return n;
}

}  // namespace

struct PostgresAdapter::Impl {
  PostgresStoreOptions options;
  detail::pg::ConnectSettings settings;
  std::string server;   // host:port
  detail::sql::Statements statements;
  // The same statements with `?` placeholders, for the semaphore admission, which goes as one
  // simple-query text with its values inlined (several statements in one round trip).
  detail::sql::Statements inlined;
  std::string channel;  // notification channel
  std::int32_t waiter_class = 0;
  std::array<std::string, kCount> sql;
  std::unique_ptr<detail::ConnectionPool<Connection>> pool;

  [[nodiscard]] bool borrowed() const { return options.connection != nullptr; }

  [[noreturn]] void fail(std::string_view operation, const std::string& cause) const {
    throw LockStorageError("PostgreSQL " + server + ": " + std::string(operation) +
                           " failed: " + cause);
  }

  std::unique_ptr<Connection> connect() const {
    auto conn = std::make_unique<Connection>();
    if (borrowed()) {
      conn->pg = options.connection;
      conn->owned = false;
      if (PQstatus(conn->pg) != CONNECTION_OK) PQreset(conn->pg);
      if (PQstatus(conn->pg) != CONNECTION_OK) fail("reconnect", detail::pg::error_of(conn->pg));
      // A statement cancelled after its query_timeout may still be finishing: its reply must
      // be read before the connection takes another statement.
      if (PQisBusy(conn->pg) != 0 || PQtransactionStatus(conn->pg) == PQTRANS_ACTIVE) {
        if (!detail::pg::drain(conn->pg, steady::now() + options.query_timeout)) {
          fail("use the application's connection",
               "a statement cancelled after its query_timeout has not ended yet");
        }
      }
      return conn;
    }
    conn->pg = settings.connect();
    if (conn->pg == nullptr) fail("connect", "out of memory");
    if (PQstatus(conn->pg) != CONNECTION_OK) fail("connect", detail::pg::error_of(conn->pg));
    detail::pg::watch_for_termination(conn->pg, &conn->terminated);
    if (PQsetnonblocking(conn->pg, 1) != 0) fail("connect", detail::pg::error_of(conn->pg));
    return conn;
  }

  static bool healthy(Connection& c) {
    return detail::pg::idle_connection_is_good(c.pg, c.terminated);
  }

  // Sends with `send` (a PQsend* call) and reads the reply under query_timeout. A statement
  // the server refused is returned (`failed`); a failed connection is dropped (discarded
  // from the pool) and throws LockStorageError. A statement without reply in time throws
  // too: an owned connection is then dropped; the application's connection is kept in step
  // instead, by cancelling the statement and reading its reply — and a statement that
  // completed after all is reported as it completed.
  template <class Send>
  Reply exchange(detail::ConnectionPool<Connection>::Lease& lease, std::string_view operation,
                 Send&& send) const {
    PGconn* pg = lease->pg;
    Reply r = detail::pg::run_statement(pg, steady::now() + options.query_timeout,
                                        std::forward<Send>(send));
    if (r.status == Reply::Status::ok || r.status == Reply::Status::failed) return r;
    if (r.status == Reply::Status::timed_out) {
      r.error = "no reply within query_timeout (" + std::to_string(options.query_timeout.count()) +
                " ms)";
      if (borrowed()) {
        Reply late = detail::pg::cancel_statement(pg, steady::now() + options.query_timeout);
        if (late.status == Reply::Status::ok) return late;
        if (late.status == Reply::Status::failed) {
          fail(operation, r.error + "; cancelled (" + late.error + ")");
        }
        // Still running, or broken: the next use drains or resets it.
      }
    }
    lease.discard();
    fail(operation, r.error);
  }

  template <class Send>
  Result round_trip(detail::ConnectionPool<Connection>::Lease& lease, std::string_view operation,
                    Send&& send) const {
    Reply r = exchange(lease, operation, std::forward<Send>(send));
    if (r.status != Reply::Status::ok) fail(operation, r.error);
    return std::move(r.result);
  }

  // Runs prepared statement `s` with text parameters (nullptr: SQL NULL).
  Result run(Stmt s, std::string_view operation, std::initializer_list<const char*> params) {
    auto lease = pool->acquire();
    if (!lease->prepared[s]) prepare(lease, s);
    std::vector<const char*> values(params);
    return round_trip(lease, operation, [&](PGconn* pg) {
      return PQsendQueryPrepared(pg, kStmtNames[s], static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0);
    });
  }

  void prepare(detail::ConnectionPool<Connection>::Lease& lease, Stmt s) {
    auto send = [&](PGconn* pg) {
      return PQsendPrepare(pg, kStmtNames[s], sql[s].c_str(), 0, nullptr);
    };
    Reply r = exchange(lease, "prepare statement", send);
    if (r.status == Reply::Status::failed && r.sqlstate == kDuplicatePrepared) {
      // The session has it from before (the application's connection, lent again after a
      // failure): replace it, as it may have been prepared for another table.
      const std::string deallocate = std::string("DEALLOCATE ") + kStmtNames[s];
      round_trip(lease, "prepare statement",
                 [&](PGconn* pg) { return PQsendQuery(pg, deallocate.c_str()); });
      r = exchange(lease, "prepare statement", send);
    }
    if (r.status != Reply::Status::ok) fail("prepare statement", r.error);
    lease->prepared[s] = true;
  }

  // After a failed transaction: leaves none open on the connection (postgres_store.cpp).
  void end_transaction(detail::ConnectionPool<Connection>::Lease& lease) const;
};

PostgresAdapter::PostgresAdapter(PostgresStoreOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.connection == nullptr && options.conninfo.empty()) {
    throw InvalidArgumentError(
        "PostgresStoreOptions: give conninfo (e.g. postgres://user:pass@host:5432/db) or an "
        "open connection");
  }
  if (options.pool_size == 0) {
    throw InvalidArgumentError("PostgresStoreOptions::pool_size is 0; use 1 or more (default 4)");
  }
  detail::check_duration("PostgresStoreOptions::connect_timeout", options.connect_timeout);
  detail::check_duration("PostgresStoreOptions::query_timeout", options.query_timeout);
  if (options.connection != nullptr) {
    const char* host = PQhost(options.connection);
    const char* port = PQport(options.connection);
    impl_->server = std::string(host != nullptr ? host : "?") + ":" + (port != nullptr ? port : "?");
  } else {
    // Never quotes the conninfo nor libpq's reading of it unredacted: both may hold the
    // password.
    impl_->server = detail::pg::server_of(options.conninfo);
    impl_->settings = detail::pg::ConnectSettings(options.conninfo, options.connect_timeout);
  }
  const bool borrowed = options.connection != nullptr;
  const std::size_t size = borrowed ? 1 : options.pool_size;
  impl_->options = std::move(options);
  Impl* impl = impl_.get();
  impl_->pool = std::make_unique<detail::ConnectionPool<Connection>>(
      size, [impl] { return impl->connect(); },
      borrowed ? detail::ConnectionPool<Connection>::Healthy{} : &Impl::healthy,
      "PostgreSQL " + impl_->server, impl_->options.query_timeout * 3);
}

PostgresAdapter::~PostgresAdapter() = default;

void PostgresAdapter::set_table_name(const std::string& table) {
  validate_sql_identifier(table);
  auto& i = *impl_;
  i.statements = detail::sql::build(detail::sql::Dialect::postgresql, table,
                                    {.placeholders = detail::sql::Placeholders::dollar});
  i.inlined = detail::sql::build(detail::sql::Dialect::postgresql, table,
                                 {.placeholders = detail::sql::Placeholders::question});
  const auto& st = i.statements;
  i.channel = st.channel;
  // A release notifies only when a waiter may be waiting (drivers/postgres/waiters.hpp).
  i.waiter_class = st.waiter_lock_class;
  i.sql[kInsert] = st.insert.text;
  i.sql[kTakeOver] = st.take_over.text;
  i.sql[kDelete] = st.remove.text;
  i.sql[kDeleteOwned] = st.remove_owned.text;
  i.sql[kExtend] = st.extend.text;
  i.sql[kGet] = st.get.text;
  i.sql[kNowQ] = st.now_query.text;
  i.sql[kAcquireFenced] = st.acquire_fenced.text;
  i.sql[kDeletePermit] = st.delete_permit.text;
  i.sql[kExtendPermit] = st.extend_permit.text;
  i.sql[kCountPermits] = st.count_permits.text;
  i.sql[kPermitHeld] = st.permit_held.text;
}

void PostgresAdapter::create_table_if_not_exists() {
  // One transaction, under the dialect's advisory lock (CREATE TABLE IF NOT EXISTS alone races:
  // two sessions can both see no table and one fails on the catalog's unique index): creators
  // take turns, and the later ones find the tables.
  const auto& st = impl_->statements;
  std::string sql = "BEGIN; " + st.create_lock;
  for (const auto& create : st.create_tables) sql += "; " + create;
  sql += "; COMMIT";
  auto lease = impl_->pool->acquire();
  try {
    impl_->round_trip(lease, "create lock table",
                      [&](PGconn* pg) { return PQsendQuery(pg, sql.c_str()); });
  } catch (...) {
    impl_->end_transaction(lease);
    throw;
  }
}

void PostgresAdapter::Impl::end_transaction(
    detail::ConnectionPool<Connection>::Lease& lease) const {
  // Leave no transaction open on a connection that goes back to the pool; the application's
  // connection, which stays the application's, is rolled back instead.
  const Connection* c = lease.operator->();  // null once dropped
  if (c != nullptr && PQstatus(c->pg) == CONNECTION_OK &&
      PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
    const bool rolled_back =
        borrowed() && PQtransactionStatus(c->pg) != PQTRANS_ACTIVE &&
        detail::pg::run_statement(c->pg, steady::now() + options.query_timeout,
                                  [](PGconn* pg) { return PQsendQuery(pg, "ROLLBACK"); })
                .status == Reply::Status::ok;
    if (!rolled_back) lease.discard();
  }
}

bool PostgresAdapter::insert_lock(const std::string& key, const std::string& owner,
                                  std::optional<Duration> ttl) {
  const std::string ms = ttl ? std::to_string(ttl->count()) : std::string();
  auto r = impl_->run(kInsert, "insert lock",
                      {key.c_str(), owner.c_str(), ttl ? ms.c_str() : nullptr});
  return to_count(PQcmdTuples(r.get())) > 0;
}

std::uint64_t PostgresAdapter::acquire_expired_lock(const std::string& key,
                                                    const std::string& owner,
                                                    std::optional<Duration> ttl) {
  const std::string ms = ttl ? std::to_string(ttl->count()) : std::string();
  auto r = impl_->run(kTakeOver, "take over expired lock",
                      {key.c_str(), owner.c_str(), ttl ? ms.c_str() : nullptr});
  return to_count(PQcmdTuples(r.get()));
}

std::uint64_t PostgresAdapter::delete_lock(const std::string& key,
                                           const std::optional<std::string>& owner) {
  Result r = owner ? impl_->run(kDeleteOwned, "release lock", {key.c_str(), owner->c_str()})
                   : impl_->run(kDelete, "force release lock", {key.c_str()});
  return PQntuples(r.get()) > 0 ? to_count(PQgetvalue(r.get(), 0, 0)) : 0;
}

std::uint64_t PostgresAdapter::extend_lock(const std::string& key, const std::string& owner,
                                           Duration duration) {
  const std::string ms = std::to_string(duration.count());
  auto r = impl_->run(kExtend, "extend lock", {key.c_str(), owner.c_str(), ms.c_str()});
  return to_count(PQcmdTuples(r.get()));
}

std::optional<DatabaseLockRow> PostgresAdapter::get_lock(const std::string& key) {
  auto r = impl_->run(kGet, "read lock", {key.c_str()});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  DatabaseLockRow row;
  row.owner = PQgetvalue(r.get(), 0, 0);
  if (PQgetisnull(r.get(), 0, 1) == 0) row.expiration = std::stoll(PQgetvalue(r.get(), 0, 1));
  row.expired = PQgetisnull(r.get(), 0, 2) == 0 && PQgetvalue(r.get(), 0, 2)[0] == '1';
  return row;
}

std::vector<HeldLock> PostgresAdapter::list_locks(std::string_view prefix, std::size_t limit) {
  // Not prepared: an administrative query, its LIMIT written in.
  const auto most = std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max());
  const std::string text = impl_->statements.list.text + " LIMIT " + std::to_string(most);
  const std::string key(prefix);
  const char* values[] = {key.c_str()};
  auto lease = impl_->pool->acquire();
  auto r = impl_->round_trip(lease, "list locks", [&](PGconn* pg) {
    return PQsendQueryParams(pg, text.c_str(), 1, nullptr, values, nullptr, nullptr, 0);
  });
  std::vector<HeldLock> held;
  const int rows = PQntuples(r.get());
  for (int row = 0; row < rows; ++row) {
    HeldLock h;
    h.key = PQgetvalue(r.get(), row, 0);
    h.owner = PQgetvalue(r.get(), row, 1);
    if (PQgetisnull(r.get(), row, 2) == 0) {
      h.remaining = Duration(std::max<std::int64_t>(0, std::stoll(PQgetvalue(r.get(), row, 2))));
    }
    if (PQgetisnull(r.get(), row, 3) == 0) h.fencing_token = to_count(PQgetvalue(r.get(), row, 3));
    held.push_back(std::move(h));
  }
  return held;
}

bool PostgresAdapter::gives_fencing_tokens() const noexcept { return true; }

std::optional<std::uint64_t> PostgresAdapter::acquire_fenced_lock(const std::string& key,
                                                                  const std::string& owner,
                                                                  std::optional<Duration> ttl) {
  const std::string ms = ttl ? std::to_string(ttl->count()) : std::string();
  auto r = impl_->run(kAcquireFenced, "acquire lock",
                      {key.c_str(), owner.c_str(), ttl ? ms.c_str() : nullptr});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  return to_count(PQgetvalue(r.get(), 0, 0));
}

bool PostgresAdapter::gives_semaphores() const noexcept { return true; }

bool PostgresAdapter::insert_permit(const std::string& key, const std::string& holder,
                                    std::uint32_t limit, std::optional<Duration> ttl) {
  // One transaction: lock the key's header row, prune, admit (sent as one text), then COMMIT.
  // Each statement takes a new snapshot (READ COMMITTED), so the count after the header's lock
  // sees every holder admitted before.
  auto& i = *impl_;
  auto lease = i.pool->acquire();
  auto literal = [&](const std::string& text) {
    char* quoted = PQescapeLiteral(lease->pg, text.data(), text.size());
    if (quoted == nullptr) i.fail("acquire permit", detail::pg::error_of(lease->pg));
    std::string out = quoted;
    PQfreemem(quoted);
    return out;
  };
  const std::string ms = ttl ? std::to_string(ttl->count()) : std::string("NULL");
  auto values = [&](const detail::sql::Statement& st) {
    std::vector<std::string> out;
    for (auto p : st.params) {
      switch (p) {
        case detail::sql::Param::key: out.push_back(literal(key)); break;
        case detail::sql::Param::owner: out.push_back(literal(holder)); break;
        case detail::sql::Param::ms: out.push_back(ms); break;
        case detail::sql::Param::limit: out.push_back(std::to_string(limit)); break;
      }
    }
    return out;
  };
  std::string batch = detail::sql::admission_batch(i.inlined, "BEGIN", values);
  batch.resize(batch.size() - std::string(";COMMIT").size());
  try {
    auto r = i.round_trip(lease, "acquire permit",
                          [&](PGconn* pg) { return PQsendQuery(pg, batch.c_str()); });
    const bool admitted = to_count(PQcmdTuples(r.get())) == 1;
    i.round_trip(lease, "acquire permit", [&](PGconn* pg) { return PQsendQuery(pg, "COMMIT"); });
    return admitted;
  } catch (...) {
    i.end_transaction(lease);
    throw;
  }
}

std::uint64_t PostgresAdapter::delete_permit(const std::string& key, const std::string& holder) {
  auto r = impl_->run(kDeletePermit, "release permit", {key.c_str(), holder.c_str()});
  return to_count(PQcmdTuples(r.get()));
}

std::uint64_t PostgresAdapter::extend_permit(const std::string& key, const std::string& holder,
                                             Duration duration) {
  const std::string ms = std::to_string(duration.count());
  auto r = impl_->run(kExtendPermit, "extend permit", {key.c_str(), holder.c_str(), ms.c_str()});
  return to_count(PQcmdTuples(r.get()));
}

bool PostgresAdapter::holds_permit(const std::string& key, const std::string& holder) {
  auto r = impl_->run(kPermitHeld, "read permit", {key.c_str(), holder.c_str()});
  return PQntuples(r.get()) > 0 && to_count(PQgetvalue(r.get(), 0, 0)) > 0;
}

std::uint32_t PostgresAdapter::count_permits(const std::string& key) {
  auto r = impl_->run(kCountPermits, "count permits", {key.c_str()});
  if (PQntuples(r.get()) == 0) return 0;
  return static_cast<std::uint32_t>(to_count(PQgetvalue(r.get(), 0, 0)));
}

std::int64_t PostgresAdapter::database_now() {
  auto r = impl_->run(kNowQ, "read clock", {});
  return std::stoll(PQgetvalue(r.get(), 0, 0));
}

const std::string& PostgresAdapter::channel() const { return impl_->channel; }
const std::string& PostgresAdapter::server() const { return impl_->server; }
std::int32_t PostgresAdapter::waiter_lock_class() const { return impl_->waiter_class; }

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : PostgresStore(std::make_shared<PostgresAdapter>(options), options) {}

PostgresStore::PostgresStore(std::shared_ptr<PostgresAdapter> adapter,
                             const PostgresStoreOptions& options)
    : DatabaseStore(DatabaseStoreOptions{.adapter = adapter,
                                         .table_name = options.table_name,
                                         .auto_create_table = options.auto_create_table,
                                         .fencing_tokens = options.fencing_tokens}),
      postgres_(std::move(adapter)),
      clock_(options.clock ? options.clock : [] { return std::chrono::system_clock::now(); }) {
  const auto& impl = *postgres_->impl_;
  // The application's connection is never listened on: it serves one statement at a time,
  // and its waiters poll.
  if (!impl.borrowed()) {
    listener_ = std::make_unique<detail::pg::Listener>(detail::pg::ListenerOptions{
        .connect = impl.settings.with_keepalives(),
        .query_timeout = impl.options.query_timeout,
        .channel = impl.channel,
        .lock_class = impl.waiter_class,
    });
  }
}

PostgresStore::~PostgresStore() = default;

void PostgresStore::remove(const std::string& key, const std::string& owner) {
  DatabaseStore::remove(key, owner);
  if (listener_) listener_->released(key);
}

void PostgresStore::force_remove(const std::string& key) {
  DatabaseStore::force_remove(key);
  if (listener_) listener_->released(key);
}

std::optional<Acquired> PostgresStore::save_waiting(
    const std::string& key, const std::string& owner, std::optional<Duration> ttl,
    steady::time_point until, steady::time_point waiting_since) {
  (void)waiting_since;  // every waiter is woken; the database decides who wins
  // One try: the acquisition, with its fencing token when the store gives tokens.
  auto take = [&]() -> std::optional<Acquired> {
    const auto stamp = clock_();
    if (!gives_fencing_tokens()) {
      if (save(key, owner, ttl)) return Acquired{.written_at = stamp};
      return std::nullopt;
    }
    if (auto token = save_fenced(key, owner, ttl)) {
      return Acquired{.written_at = stamp, .fencing_token = token};
    }
    return std::nullopt;
  };
  // A free lock needs no announcement: most acquires end here, at the cost of one statement.
  if (auto acquired = take()) return acquired;
  if (steady::now() >= until) return std::nullopt;
  auto& impl = *postgres_->impl_;
  // Announce this waiter before trying again: a release from then on notifies it, and one
  // that committed before is seen by the next try (drivers/postgres/waiters.hpp).
  std::optional<detail::pg::Listener::Watch> watch;
  if (listener_) watch.emplace(listener_->watch(key, until));
  for (;;) {
    const std::uint64_t seen = watch ? watch->wakeups() : 0;
    if (auto acquired = take()) {
      acquired->waited = true;  // the first try found it held
      return acquired;
    }
    // Wake at the latest when the holder's lease runs out (by the server's clock).
    auto wake = until;
    Result r = impl.run(kGet, "read lock", {key.c_str()});
    if (PQntuples(r.get()) == 0) continue;  // released meanwhile: try again at once
    if (PQgetisnull(r.get(), 0, 3) == 0) {
      const std::int64_t left = std::stoll(PQgetvalue(r.get(), 0, 3));
      wake = std::min(wake, steady::now() + std::chrono::milliseconds(
                                                std::max<std::int64_t>(1, left + 1)));
    }
    // A release announced by notification ends the wait early. Without an announcement (the
    // application's connection, or a listener that cannot reach the server), this polls at
    // the retry delay; with one, look again now and then rather than trust it blindly.
    if (watch) wake = std::min(wake, steady::now() + std::chrono::seconds(10));
    const bool woken = watch ? watch->wait(seen, wake) : false;
    if (!watch) std::this_thread::sleep_until(wake);
    if (!woken && steady::now() >= until) return std::nullopt;
  }
}

std::shared_ptr<DatabaseStore> make_postgres_store(PostgresStoreOptions options) {
  if (options.connection != nullptr) {
    return detail::store_over_adapter<PostgresAdapter>(std::move(options));
  }
  return std::make_shared<PostgresStore>(std::move(options));
}

StoreFactory postgres_store(PostgresStoreOptions options) {
  return detail::store_factory("postgres", std::move(options), &make_postgres_store);
}

namespace detail {
namespace {

// libpq settings a URL may carry through to the connection.
constexpr std::array<std::string_view, 7> kLibpqParams = {
    "sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "options",
    "target_session_attrs"};

std::string conninfo_value(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::shared_ptr<LockStore> open_postgres(const Url& url) {
  url.check_params({"table", "pool_size", "connect_timeout", "query_timeout", "auto_create_table",
                    "fencing_tokens", "sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "options",
                    "target_session_attrs"});
  if (!url.has_authority || url.hosts.empty()) {
    throw InvalidArgumentError(
        "invalid PostgreSQL URL: expected postgres://user:password@host:port/database");
  }
  // Rebuilt as key=value pairs: verrou's own options must not reach libpq, and values are
  // already percent-decoded here.
  std::string hosts;
  std::string ports;
  for (const auto& hp : url.hosts) {
    if (!hosts.empty()) {
      hosts += ',';
      ports += ',';
    }
    hosts += hp.host;
    ports += std::to_string(hp.port.value_or(5432));
  }
  std::string conninfo = "host=" + conninfo_value(hosts) + " port=" + conninfo_value(ports);
  if (url.username) conninfo += " user=" + conninfo_value(*url.username);
  if (url.password) conninfo += " password=" + conninfo_value(*url.password);
  if (url.path.size() > 1) conninfo += " dbname=" + conninfo_value(url.path.substr(1));
  for (auto name : kLibpqParams) {
    if (auto v = url.param(name)) conninfo += " " + std::string(name) + "=" + conninfo_value(*v);
  }
  PostgresStoreOptions options;
  options.conninfo = conninfo;
  if (auto t = url.param("table")) options.table_name = *t;
  options.pool_size = size_param(url, "pool_size", options.pool_size, 1, 64);
  options.connect_timeout = duration_param(url, "connect_timeout", options.connect_timeout);
  options.query_timeout = duration_param(url, "query_timeout", options.query_timeout);
  options.auto_create_table = bool_param(url, "auto_create_table", true);
  options.fencing_tokens = bool_param(url, "fencing_tokens", true);
  return make_postgres_store(std::move(options));
}

}  // namespace

void register_postgres_driver(DriverRegistry& registry) {
  registry.add("postgres", &open_postgres);
  registry.add("postgresql", &open_postgres);
}

}  // namespace detail
}  // namespace verrou
