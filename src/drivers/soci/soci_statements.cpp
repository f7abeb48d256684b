// SPDX-License-Identifier: Apache-2.0
// Running the dialect's statements through SOCI: binding, the statements prepared on the store's
// own PostgreSQL sessions, explicit commits where a session does not autocommit, and the fenced
// acquire of each dialect.
#include "drivers/soci/soci_adapter_impl.hpp"

#if defined(VERROU_SOCI_HAVE_MYSQL)
#include <soci/mysql/soci-mysql.h>

#include "drivers/database/mysql_batch.hpp"
#endif
#if defined(VERROU_SOCI_HAVE_ODBC)
#include <soci/odbc/soci-odbc.h>
#endif

#include <stdexcept>
#include <utility>

namespace verrou {
namespace detail {

// A statement prepared once on a session of the store's own and run again and again.
struct SociPrepared {
  explicit SociPrepared(soci::session& session) : st(session) {}
  SociExchange x;
  soci::statement st;
};

OwnSession::OwnSession() = default;

OwnSession::~OwnSession() {
  for (auto& p : prepared) p.reset();  // statements before their session
}

namespace {

#if defined(VERROU_SOCI_HAVE_MYSQL)
// The Connector/C handle under a session of SOCI's mysql backend; nullptr on other backends. (The
// backend's class has no exported type information: the name says what it is.)
MYSQL* mysql_handle(soci::session& s) {
  if (s.get_backend_name() != "mysql") return nullptr;
  return static_cast<soci::mysql_session_backend*>(s.get_backend())->conn_;
}
#endif

// A PostgreSQL release returns the number of rows it deleted (and announced) as a row.
bool returns_count(const sql::Statements& sql, SociStmt kind) {
  return sql.dialect == sql::Dialect::postgresql &&
         (kind == kSociRemove || kind == kSociRemoveOwned);
}

// Binds `x` to `st` for statement `kind`: outputs first, then the statement's parameters in the
// order its placeholders appear (SOCI binds unnamed `use` elements by position).
void bind(soci::statement& st, const sql::Statements& sql, SociStmt kind,
          const sql::Statement& statement, SociExchange& x, soci::details::statement_type type) {
  switch (kind) {
    case kSociGet:
      st.exchange(soci::into(x.out_owner, x.out_owner_ind));
      st.exchange(soci::into(x.out_expiration, x.out_expiration_ind));
      st.exchange(soci::into(x.out_expired, x.out_expired_ind));
      st.exchange(soci::into(x.out_remaining, x.out_remaining_ind));
      break;
    case kSociNow:
    case kSociReadToken:
    case kSociAcquireFenced:
    case kSociCountPermits:
    case kSociPermitHeld:
      st.exchange(soci::into(x.number, x.number_ind));
      break;
    default:
      if (returns_count(sql, kind)) st.exchange(soci::into(x.number, x.number_ind));
      break;
  }
  for (sql::Param p : statement.params) {
    switch (p) {
      case sql::Param::key:
        st.exchange(soci::use(x.key));
        break;
      case sql::Param::owner:
        st.exchange(soci::use(x.owner));
        break;
      case sql::Param::ms:
        st.exchange(soci::use(x.ms, x.ms_ind));
        break;
      case sql::Param::limit:
        st.exchange(soci::use(x.limit));
        break;
    }
  }
  st.alloc();
  st.prepare(statement.text, type);
  st.define_and_bind();
}

}  // namespace

KeepAutocommitOff::KeepAutocommitOff(soci::session& session) : session_(session) {
#if defined(VERROU_SOCI_HAVE_ODBC)
  if (session.get_backend_name() == "odbc") {
    SQLULEN mode = SQL_AUTOCOMMIT_ON;
    auto* backend = static_cast<soci::odbc_session_backend*>(session.get_backend());
    off_ = SQL_SUCCEEDED(SQLGetConnectAttr(backend->hdbc_, SQL_ATTR_AUTOCOMMIT, &mode, 0,
                                           nullptr)) &&
           mode == SQL_AUTOCOMMIT_OFF;
  }
#endif
}

KeepAutocommitOff::~KeepAutocommitOff() {
#if defined(VERROU_SOCI_HAVE_ODBC)
  if (off_) {
    auto* backend = static_cast<soci::odbc_session_backend*>(session_.get_backend());
    SQLSetConnectAttr(backend->hdbc_, SQL_ATTR_AUTOCOMMIT,
                      reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_OFF), 0);
  }
#endif
}

bool is_duplicate_key(const soci::soci_error& e) {
  if (e.get_error_category() == soci::soci_error::constraint_violation) return true;
#if defined(VERROU_SOCI_HAVE_MYSQL)
  if (const auto* m = dynamic_cast<const soci::mysql_soci_error*>(&e)) return m->err_num_ == 1062;
#endif
  // Backends that leave errors uncategorized: the databases' own words for it.
  const std::string what = e.what();
  for (const char* words : {"Duplicate entry", "duplicate key", "UNIQUE constraint failed",
                            "unique constraint", "PRIMARY KEY", "ORA-00001", "23505", "23000"}) {
    if (what.find(words) != std::string::npos) return true;
  }
  return false;
}

void enable_multi_statements(OwnSession& own) {
#if defined(VERROU_SOCI_HAVE_MYSQL)
  if (MYSQL* my = mysql_handle(*own.session)) {
    own.multi_statements = mysql_set_server_option(my, MYSQL_OPTION_MULTI_STATEMENTS_ON) == 0;
  }
#else
  (void)own;
#endif
}

SociOutcome run_soci(soci::session& session, OwnSession* own, const sql::Statements& sql,
                     SociStmt kind, const sql::Statement& statement, SociExchange& x) {
  SociOutcome out;
  auto finish = [&](soci::statement& st, bool got) {
    out.got_row = got;
    if (returns_count(sql, kind)) {
      out.rows = got && x.number_ind == soci::i_ok && x.number > 0
                     ? static_cast<std::uint64_t>(x.number)
                     : 0;
    } else if (kind != kSociGet && kind != kSociNow && kind != kSociReadToken &&
               kind != kSociAcquireFenced && kind != kSociCountPermits && kind != kSociPermitHeld) {
      const long long rows = st.get_affected_rows();
      out.rows = rows > 0 ? static_cast<std::uint64_t>(rows) : 0;
    }
  };
  // Prepared once per session of the store's own PostgreSQL pool: the server then neither parses
  // nor plans them again, which more than halves a lock cycle.
  if (own != nullptr && sql.dialect == sql::Dialect::postgresql) {
    auto& slot = own->prepared.at(kind);
    if (!slot) {
      auto p = std::make_unique<SociPrepared>(session);
      bind(p->st, sql, kind, statement, p->x, soci::details::st_repeatable_query);
      slot = std::move(p);
    }
    SociPrepared& p = *slot;
    p.x = x;  // the bound variables keep their addresses
    try {
      const bool got = p.st.execute(true);
      x = p.x;
      finish(p.st, got);
    } catch (...) {
      slot.reset();  // prepared again next time, if the session survives
      throw;
    }
    return out;
  }
  soci::statement st(session);
  bind(st, sql, kind, statement, x, soci::details::st_one_time_query);
  finish(st, st.execute(true));
  return out;
}

}  // namespace detail

namespace sql = detail::sql;

bool SociAdapter::Impl::needs_commit(soci::session& session) {
  const auto* s = sql_ptr.load(std::memory_order_acquire);
  if (s != nullptr &&
      (s->dialect == sql::Dialect::oracle || s->dialect == sql::Dialect::firebird)) {
    return true;
  }
#if defined(VERROU_SOCI_HAVE_MYSQL)
  if (MYSQL* my = detail::mysql_handle(session)) {
    return (my->server_status & SERVER_STATUS_AUTOCOMMIT) == 0;
  }
#endif
#if defined(VERROU_SOCI_HAVE_ODBC)
  if (session.get_backend_name() == "odbc") {
    SQLULEN mode = SQL_AUTOCOMMIT_ON;
    auto* backend = static_cast<soci::odbc_session_backend*>(session.get_backend());
    if (SQL_SUCCEEDED(SQLGetConnectAttr(backend->hdbc_, SQL_ATTR_AUTOCOMMIT, &mode, 0, nullptr))) {
      return mode == SQL_AUTOCOMMIT_OFF;
    }
  }
#endif
  (void)session;
  return false;
}

std::optional<DatabaseLockRow> SociAdapter::Impl::read(const std::string& key) {
  const auto& s = sql();
  return with_session("read lock", [&](soci::session& session, detail::OwnSession* own) {
    auto read_row = [&] {
      detail::SociExchange x;
      x.key = key;
      std::optional<DatabaseLockRow> row;
      if (detail::run_soci(session, own, s, detail::kSociGet, s.get, x).got_row) {
        DatabaseLockRow r;
        r.owner = std::move(x.out_owner);
        if (x.out_expiration_ind == soci::i_ok) r.expiration = x.out_expiration;
        r.expired = x.out_expired_ind == soci::i_ok && x.out_expired != 0;
        row = std::move(r);
      }
      return row;
    };
    // A session that does not autocommit would keep the read's snapshot (and locks) open.
    if (!needs_commit(session)) return read_row();
    detail::KeepAutocommitOff keep(session);
    soci::transaction tr(session);
    auto row = read_row();
    tr.commit();
    return row;
  });
}

std::optional<std::uint64_t> SociAdapter::Impl::acquire_fenced(const std::string& key,
                                                               const std::string& owner,
                                                               std::optional<Duration> ttl) {
  using Fenced = sql::Statements::FencedAcquire;
  const auto& s = sql();
  return with_session(
      "acquire lock",
      [&](soci::session& session, detail::OwnSession* own) -> std::optional<std::uint64_t> {
        detail::SociExchange x;
        x.key = key;
        x.owner = owner;
        x.set_ms(ttl ? std::optional<long long>(ttl->count()) : std::nullopt);
        auto run = [&](detail::SociStmt kind, const sql::Statement& statement) {
          return detail::run_soci(session, own, s, kind, statement, x);
        };
        auto token = [&]() -> std::optional<std::uint64_t> {
          if (!run(detail::kSociReadToken, s.read_token).got_row || x.number_ind != soci::i_ok) {
            throw std::runtime_error("the fencing counter of the key is missing");
          }
          return static_cast<std::uint64_t>(x.number);
        };
        if (s.fenced == Fenced::one_statement && !needs_commit(session)) {
          // PostgreSQL: one statement takes the lock and raises the counter.
          if (!run(detail::kSociAcquireFenced, s.acquire_fenced).got_row ||
              x.number_ind != soci::i_ok) {
            return std::nullopt;
          }
          return static_cast<std::uint64_t>(x.number);
        }
#if defined(VERROU_SOCI_HAVE_MYSQL)
        if (s.fenced == Fenced::mysql_batch && own != nullptr && own->multi_statements) {
          // The store's own mysql session: the native adapter's one round trip.
          const std::int64_t ms = ttl ? ttl->count() : 0;
          const auto r = sql::run_mysql_fenced_batch(detail::mysql_handle(session), s, &key, &owner,
                                                     ttl ? &ms : nullptr);
          if (r.error != 0) {
            throw std::runtime_error(r.message + " (error " + std::to_string(r.error) + ")");
          }
          return r.token;
        }
#endif
        // Elsewhere, the same steps in a transaction of SOCI's.
        auto bump = [&] {
          if (run(detail::kSociBumpToken, s.bump_token).rows == 0) {
            run(detail::kSociInsertToken, s.insert_token);
          }
          return token();
        };
        detail::KeepAutocommitOff keep(session);
        std::optional<std::uint64_t> out;
        {
          soci::transaction tr(session);
          switch (s.fenced) {
            case Fenced::one_statement:
              if (run(detail::kSociAcquireFenced, s.acquire_fenced).got_row &&
                  x.number_ind == soci::i_ok) {
                out = static_cast<std::uint64_t>(x.number);
              }
              break;
            case Fenced::upsert_then_bump:
              if (run(detail::kSociAcquire, s.acquire).rows > 0) out = bump();
              break;
            case Fenced::mysql_batch:
            case Fenced::generic: {
              bool taken = false;
              try {
                taken = run(detail::kSociInsert, s.insert).rows > 0;
              } catch (const soci::soci_error& e) {
                // The key has a row. Anything else (a value the column cannot hold, a lost
                // connection) is a failure, reported as such.
                if (!detail::is_duplicate_key(e)) throw;
              }
              if (taken) out = bump();
              break;
            }
          }
          if (out || s.fenced == Fenced::one_statement || s.fenced == Fenced::upsert_then_bump) {
            tr.commit();
            return out;
          }
          // The key has a row: end this transaction (and the shared lock the failed insert
          // holds on the row) before asking for an exclusive one, which two clients doing the
          // same would otherwise deadlock over.
          tr.rollback();
        }
        soci::transaction tr(session);
        if (run(detail::kSociTakeOver, s.take_over).rows > 0) out = bump();
        if (out) {
          tr.commit();
        } else {
          tr.rollback();
        }
        return out;
      });
}

bool SociAdapter::Impl::insert_permit(const std::string& key, const std::string& holder,
                                      std::uint32_t limit, std::optional<Duration> ttl) {
  const auto& s = sql();
  if (s.insert_permit.text.empty()) {
    throw InvalidArgumentError("SOCI " + server +
                               ": semaphores are written for SQLite, PostgreSQL and MySQL/MariaDB "
                               "only, not for this dialect");
  }
  return with_session("acquire permit", [&](soci::session& session, detail::OwnSession* own) {
#if defined(VERROU_SOCI_HAVE_MYSQL)
    if (s.dialect == sql::Dialect::mysql && own != nullptr && own->multi_statements) {
      // The store's own mysql session: the native adapter's one round trip.
      const std::int64_t ms = ttl ? ttl->count() : 0;
      const auto r = sql::run_mysql_admission(detail::mysql_handle(session), s, &key, &holder,
                                              ttl ? &ms : nullptr, limit);
      if (r.error != 0) {
        throw std::runtime_error(r.message + " (error " + std::to_string(r.error) + ")");
      }
      return r.admitted;
    }
#endif
    // One transaction: lock the key's header row, prune, admit (see the dialect layer).
    detail::KeepAutocommitOff keep(session);
    soci::transaction tr(session);
    detail::SociExchange x;
    x.key = key;
    x.owner = holder;
    x.limit = limit;
    x.set_ms(ttl ? std::optional<long long>(ttl->count()) : std::nullopt);
    detail::run_soci(session, own, s, detail::kSociLockSemaphore, s.lock_semaphore, x);
    detail::run_soci(session, own, s, detail::kSociPrunePermits, s.prune_permits, x);
    const bool admitted =
        detail::run_soci(session, own, s, detail::kSociInsertPermit, s.insert_permit, x).rows == 1;
    tr.commit();
    return admitted;
  });
}

std::int64_t SociAdapter::Impl::number(std::string_view operation, detail::SociStmt kind,
                                       const sql::Statement& (*pick)(const sql::Statements&),
                                       const std::string& key, const std::string* holder) {
  const auto& s = sql();
  return with_session(operation, [&](soci::session& session, detail::OwnSession* own) {
    return committed(session, [&] {
      detail::SociExchange x;
      x.key = key;
      if (holder != nullptr) x.owner = *holder;
      detail::run_soci(session, own, s, kind, pick(s), x);
      return static_cast<std::int64_t>(x.number_ind == soci::i_ok ? x.number : 0);
    });
  });
}

}  // namespace verrou
