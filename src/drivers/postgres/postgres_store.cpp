// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/postgres.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "detail/driver_registry.hpp"
#include "detail/url.hpp"
#include "detail/text.hpp"
#include "drivers/database/dialect.hpp"
#include "drivers/database/options.hpp"
#include "drivers/database/pool.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {
namespace {

using steady = std::chrono::steady_clock;

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

struct Connection {
  PGconn* pg = nullptr;
  bool owned = true;
  std::array<bool, kCount> prepared{};
  bool listening = false;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (owned && pg != nullptr) PQfinish(pg);
  }
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

void ignore_notice(void*, const char*) {}

std::string trim(std::string s) { return detail::trim_end(std::move(s)); }

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
  std::string server;   // host:port
  detail::sql::Statements statements;
  // The same statements with `?` placeholders, for the semaphore admission, which goes as one
  // simple-query text with its values inlined (several statements in one round trip).
  detail::sql::Statements inlined;
  std::string channel;  // notification channel
  std::array<std::string, kCount> sql;
  std::unique_ptr<detail::ConnectionPool<Connection>> pool;
  std::mutex listeners_mutex;
  std::vector<std::unique_ptr<Connection>> listeners;  // idle, already LISTENing

  [[noreturn]] void fail(std::string_view operation, const std::string& cause) const {
    throw LockStorageError("PostgreSQL " + server + ": " + std::string(operation) +
                           " failed: " + cause);
  }

  std::unique_ptr<Connection> connect() const {
    auto conn = std::make_unique<Connection>();
    if (options.connection != nullptr) {
      conn->pg = options.connection;
      conn->owned = false;
      if (PQstatus(conn->pg) != CONNECTION_OK) PQreset(conn->pg);
      if (PQstatus(conn->pg) != CONNECTION_OK) {
        fail("reconnect", trim(PQerrorMessage(conn->pg)));
      }
      return conn;
    }
    const std::string timeout =
        std::to_string(std::max<std::int64_t>(1, (options.connect_timeout.count() + 999) / 1000));
    // Keywords are applied in order, so a connect_timeout inside conninfo wins over ours.
    const std::array<const char*, 4> keys = {"connect_timeout", "fallback_application_name",
                                             "dbname", nullptr};
    const std::array<const char*, 4> values = {timeout.c_str(), "verrou",
                                               options.conninfo.c_str(), nullptr};
    conn->pg = PQconnectdbParams(keys.data(), values.data(), 1);
    if (conn->pg == nullptr) fail("connect", "out of memory");
    if (PQstatus(conn->pg) != CONNECTION_OK) fail("connect", trim(PQerrorMessage(conn->pg)));
    // "relation already exists, skipping" and the like are not for the application's stderr.
    PQsetNoticeProcessor(conn->pg, &ignore_notice, nullptr);
    if (PQsetnonblocking(conn->pg, 1) != 0) fail("connect", trim(PQerrorMessage(conn->pg)));
    return conn;
  }

  // An idle connection is still good unless the server closed it (it then becomes readable:
  // a final error message, then end of file). Anything else it sent (notifications, notices)
  // is read and dropped.
  static bool healthy(Connection& c) {
    if (PQstatus(c.pg) != CONNECTION_OK) return false;
    pollfd p{PQsocket(c.pg), POLLIN, 0};
    if (p.fd < 0) return false;
    if (poll(&p, 1, 0) > 0) {
      if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return false;
      if (PQconsumeInput(c.pg) == 0 || PQstatus(c.pg) != CONNECTION_OK) return false;
      while (PGnotify* n = PQnotifies(c.pg)) PQfreemem(n);
    }
    return true;
  }

  // Waits until the socket is ready for `events`, or the deadline. False on timeout.
  bool wait_socket(PGconn* pg, short events, steady::time_point deadline) const {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      if (left <= 0) return false;
      pollfd p{PQsocket(pg), events, 0};
      const int r = poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, 60'000)));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return true;  // let libpq report the socket's error
    }
  }

  // Sends with `send` (a PQsend* call) and collects the reply under query_timeout. A
  // connection that failed or timed out is dropped (discarded from the pool) before throwing.
  template <class Send>
  Result round_trip(detail::ConnectionPool<Connection>::Lease& lease, std::string_view operation,
                    Send&& send) const {
    PGconn* pg = lease->pg;
    const auto deadline = steady::now() + options.query_timeout;
    auto broken = [&](const std::string& cause) {
      lease.discard();
      fail(operation, cause);
    };
    if (send(pg) == 0) broken(trim(PQerrorMessage(pg)));
    for (;;) {
      const int f = PQflush(pg);
      if (f == 0) break;
      if (f < 0) broken(trim(PQerrorMessage(pg)));
      if (!wait_socket(pg, POLLOUT | POLLIN, deadline)) broken("no reply within query_timeout");
      if (PQconsumeInput(pg) == 0) broken(trim(PQerrorMessage(pg)));
    }
    Result last;
    for (;;) {
      while (PQisBusy(pg) != 0) {
        if (!wait_socket(pg, POLLIN, deadline)) {
          broken("no reply within query_timeout (" + std::to_string(options.query_timeout.count()) +
                 " ms)");
        }
        if (PQconsumeInput(pg) == 0) broken(trim(PQerrorMessage(pg)));
      }
      Result r(PQgetResult(pg));
      if (!r) break;
      last = std::move(r);
    }
    if (PQstatus(pg) != CONNECTION_OK) broken(trim(PQerrorMessage(pg)));
    if (!last) fail(operation, "no result");
    const auto status = PQresultStatus(last.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const char* state = PQresultErrorField(last.get(), PG_DIAG_SQLSTATE);
      std::string cause = trim(PQresultErrorMessage(last.get()));
      if (state != nullptr) cause += " (SQLSTATE " + std::string(state) + ")";
      if (PQstatus(pg) != CONNECTION_OK) broken(cause);
      fail(operation, cause);
    }
    return last;
  }

  // Runs prepared statement `s` with text parameters (nullptr: SQL NULL).
  Result run(Stmt s, std::string_view operation, std::initializer_list<const char*> params) {
    auto lease = pool->acquire();
    if (!lease->prepared[s]) {
      round_trip(lease, "prepare statement", [&](PGconn* pg) {
        return PQsendPrepare(pg, kStmtNames[s], sql[s].c_str(), 0, nullptr);
      });
      lease->prepared[s] = true;
    }
    std::vector<const char*> values(params);
    return round_trip(lease, operation, [&](PGconn* pg) {
      return PQsendQueryPrepared(pg, kStmtNames[s], static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0);
    });
  }

  std::unique_ptr<Connection> take_listener() {
    {
      std::lock_guard lock(listeners_mutex);
      while (!listeners.empty()) {
        auto c = std::move(listeners.back());
        listeners.pop_back();
        if (healthy(*c)) return c;
      }
    }
    auto c = connect();
    const std::string listen = "LISTEN " + quote_sql_identifier(channel);
    PGconn* pg = c->pg;
    if (PQsendQuery(pg, listen.c_str()) == 0) fail("listen", trim(PQerrorMessage(pg)));
    const auto deadline = steady::now() + options.query_timeout;
    while (PQflush(pg) == 1) {
      if (!wait_socket(pg, POLLOUT | POLLIN, deadline)) fail("listen", "no reply in time");
      PQconsumeInput(pg);
    }
    bool ok = true;
    std::string cause;
    for (;;) {
      while (PQisBusy(pg) != 0) {
        if (!wait_socket(pg, POLLIN, deadline)) fail("listen", "no reply in time");
        if (PQconsumeInput(pg) == 0) fail("listen", trim(PQerrorMessage(pg)));
      }
      Result r(PQgetResult(pg));
      if (!r) break;
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        ok = false;
        cause = trim(PQresultErrorMessage(r.get()));
      }
    }
    if (!ok) fail("listen", cause);
    c->listening = true;
    return c;
  }

  void give_back_listener(std::unique_ptr<Connection> c) {
    std::lock_guard lock(listeners_mutex);
    if (listeners.size() < options.pool_size) listeners.push_back(std::move(c));
  }
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
  if (options.connect_timeout <= Duration::zero() || options.query_timeout <= Duration::zero()) {
    throw InvalidArgumentError(
        "PostgresStoreOptions: connect_timeout and query_timeout must be above zero");
  }
  if (options.connection != nullptr) {
    const char* host = PQhost(options.connection);
    const char* port = PQport(options.connection);
    impl_->server = std::string(host != nullptr ? host : "?") + ":" + (port != nullptr ? port : "?");
  } else {
    char* err = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &err);
    if (parsed == nullptr) {
      std::string why = err != nullptr ? trim(err) : "out of memory";
      if (err != nullptr) PQfreemem(err);
      throw InvalidArgumentError("invalid PostgreSQL connection string (" +
                                 redact_url(options.conninfo) + "): " + why);
    }
    std::string host = "localhost";
    std::string port = "5432";
    for (auto* o = parsed; o->keyword != nullptr; ++o) {
      if (o->val == nullptr || *o->val == '\0') continue;
      if (std::string_view(o->keyword) == "host" || std::string_view(o->keyword) == "hostaddr") {
        host = o->val;
      }
      if (std::string_view(o->keyword) == "port") port = o->val;
    }
    PQconninfoFree(parsed);
    impl_->server = host + ":" + port;
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
  const auto& st = i.statements;
  i.channel = st.channel;
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
  i.inlined = detail::sql::build(detail::sql::Dialect::postgresql, table,
                                 {.placeholders = detail::sql::Placeholders::question});
}

void PostgresAdapter::create_table_if_not_exists() {
  // One transaction, under the dialect's advisory lock: concurrent creators take turns, and
  // the later ones find the tables.
  const auto& st = impl_->statements;
  std::string sql = "BEGIN; " + st.create_lock;
  for (const auto& create : st.create_tables) sql += "; " + create;
  sql += "; COMMIT";
  auto lease = impl_->pool->acquire();
  try {
    impl_->round_trip(lease, "create lock table",
                      [&](PGconn* pg) { return PQsendQuery(pg, sql.c_str()); });
  } catch (...) {
    // Leave no transaction open on a connection that goes back to the pool.
    if (lease->pg != nullptr && PQstatus(lease->pg) == CONNECTION_OK &&
        PQtransactionStatus(lease->pg) != PQTRANS_IDLE) {
      lease.discard();
    }
    throw;
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

std::int64_t PostgresAdapter::database_now() {
  auto r = impl_->run(kNowQ, "read clock", {});
  return std::stoll(PQgetvalue(r.get(), 0, 0));
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
    if (quoted == nullptr) i.fail("acquire permit", trim(PQerrorMessage(lease->pg)));
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
    // Leave no transaction open on a connection that goes back to the pool.
    if (lease->pg != nullptr && PQstatus(lease->pg) == CONNECTION_OK &&
        PQtransactionStatus(lease->pg) != PQTRANS_IDLE) {
      lease.discard();
    }
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

const std::string& PostgresAdapter::channel() const { return impl_->channel; }
const std::string& PostgresAdapter::server() const { return impl_->server; }

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : PostgresStore(std::make_shared<PostgresAdapter>(options), options) {}

PostgresStore::PostgresStore(std::shared_ptr<PostgresAdapter> adapter,
                             const PostgresStoreOptions& options)
    : DatabaseStore(DatabaseStoreOptions{.adapter = adapter,
                                         .table_name = options.table_name,
                                         .auto_create_table = options.auto_create_table,
                                         .fencing_tokens = options.fencing_tokens}),
      postgres_(std::move(adapter)),
      clock_(options.clock ? options.clock : [] { return std::chrono::system_clock::now(); }) {}

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
  // A free lock needs no listener: most acquires end here, without tying up a listening
  // connection (with many threads, that would open a connection per acquire).
  if (auto acquired = take()) return acquired;
  if (steady::now() >= until) return std::nullopt;
  auto& impl = *postgres_->impl_;
  // Listen before trying again: a release between a failed try and the wait is then not missed.
  std::unique_ptr<Connection> listener = impl.take_listener();
  auto give_back = [&] {
    if (listener) impl.give_back_listener(std::move(listener));
  };
  try {
    while (PostgresAdapter::Impl::healthy(*listener)) {
      if (auto acquired = take()) {
        give_back();
        return acquired;
      }
      // Wake at the latest when the holder's lease runs out (by the server's clock).
      auto wake = until;
      Result r = impl.run(kGet, "read lock", {key.c_str()});
      if (PQntuples(r.get()) == 0) {
        wake = steady::now();  // released meanwhile: try again at once
      } else if (PQgetisnull(r.get(), 0, 3) == 0) {
        const std::int64_t left = std::stoll(PQgetvalue(r.get(), 0, 3));
        wake = std::min(wake, steady::now() + std::chrono::milliseconds(
                                                  std::max<std::int64_t>(1, left + 1)));
      }
      // Notifications are lost only with the listening connection, and its loss wakes the
      // poll below (end of file); still, look again now and then rather than trust it blindly.
      wake = std::min(wake, steady::now() + std::chrono::seconds(10));
      bool woken = false;
      PGconn* pg = listener->pg;
      while (!woken && steady::now() < wake) {
        if (!impl.wait_socket(pg, POLLIN, wake)) break;
        if (PQconsumeInput(pg) == 0) impl.fail("wait for release", trim(PQerrorMessage(pg)));
        while (PGnotify* n = PQnotifies(pg)) {
          if (key == n->extra) woken = true;
          PQfreemem(n);
        }
      }
      if (steady::now() >= until && !woken) {
        give_back();
        return std::nullopt;
      }
    }
    listener.reset();  // the server closed it: a later call opens another
    return std::nullopt;
  } catch (...) {
    listener.reset();
    throw;
  }
}

std::shared_ptr<DatabaseStore> make_postgres_store(PostgresStoreOptions options) {
  if (options.connection != nullptr) {
    auto table = options.table_name;
    const bool create = options.auto_create_table;
    const bool fencing = options.fencing_tokens;
    return std::make_shared<DatabaseStore>(DatabaseStoreOptions{
        .adapter = std::make_shared<PostgresAdapter>(std::move(options)),
        .table_name = std::move(table),
        .auto_create_table = create,
        .fencing_tokens = fencing,
    });
  }
  return std::make_shared<PostgresStore>(std::move(options));
}

StoreFactory postgres_store(PostgresStoreOptions options) {
  return StoreFactory{.driver = "postgres",
                      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
                        return make_postgres_store(options);
                      }};
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
