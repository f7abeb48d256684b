// SPDX-License-Identifier: Apache-2.0
// One libpq connection of the PostgreSQL store: opening it, running one statement under a
// deadline, cancelling a statement that overran, telling whether an idle connection is
// still good. Shared by the statement pool (postgres_store.cpp) and the listener
// (listener.cpp).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "verrou/duration.hpp"

namespace verrou::detail::pg {

using steady = std::chrono::steady_clock;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

/// The connection's last error message, trimmed.
std::string error_of(const PGconn* pg);

/// How every connection of a store is opened: the application's conninfo (a URI or
/// key=value string, expanded by libpq) after verrou's defaults, so a `connect_timeout` inside
/// the conninfo wins over the store's.
class ConnectSettings {
 public:
  ConnectSettings() = default;
  ConnectSettings(std::string conninfo, Duration connect_timeout);

  /// Opens a connection, waiting at most the connect timeout. Never nullptr (libpq returns a
  /// connection in a failed state instead, but for lack of memory).
  [[nodiscard]] PGconn* connect() const;
  /// Starts opening a connection without waiting (`PQconnectStartParams`).
  [[nodiscard]] PGconn* start() const;
  [[nodiscard]] Duration connect_timeout() const { return connect_timeout_; }
  /// The same, with TCP keepalives on by default (idle 10 s, then every 5 s, 3 probes), for a
  /// connection that waits for the server without ever sending.
  [[nodiscard]] ConnectSettings with_keepalives() const {
    ConnectSettings s = *this;
    s.keepalives_ = true;
    return s;
  }

 private:
  bool keepalives_ = false;
  std::string conninfo_;
  std::string timeout_seconds_;
  Duration connect_timeout_{};
};

/// What `wait_ready` saw.
enum class Ready { socket, other, timeout };

/// Waits until `fd` is ready for `events`, or `other_fd` (when not -1) is readable, or the
/// deadline. A socket error counts as ready (libpq then reports it).
Ready wait_ready(int fd, short events, steady::time_point deadline, int other_fd = -1);

/// The outcome of one statement.
struct Reply {
  enum class Status {
    ok,         ///< `result` is the statement's (last) result
    failed,     ///< the server refused the statement; the connection is still good
    broken,     ///< the connection failed: drop it
    timed_out,  ///< no reply by the deadline: the statement may still run
  };
  Status status = Status::ok;
  Result result;
  std::string error;     ///< why, unless ok
  std::string sqlstate;  ///< the server's error code, when it gave one
};

/// Reads every result of the statement just sent on `pg` (non-blocking mode) until none is
/// left, under `deadline`; notifications that arrive meanwhile stay queued in libpq.
Reply finish_statement(PGconn* pg, steady::time_point deadline);

/// Sends a statement with `send` (a `PQsend*` call on the connection) and reads its reply.
template <class Send>
Reply run_statement(PGconn* pg, steady::time_point deadline, Send&& send) {
  if (std::forward<Send>(send)(pg) == 0) {
    Reply r;
    r.status = PQstatus(pg) == CONNECTION_OK ? Reply::Status::failed : Reply::Status::broken;
    r.error = error_of(pg);
    // libpq refuses to send while it still expects an earlier reply: the connection is out
    // of step and cannot be trusted.
    if (PQisBusy(pg) != 0) r.status = Reply::Status::broken;
    return r;
  }
  return finish_statement(pg, deadline);
}

/// Asks the server to cancel the statement running on `pg` (one whose reply is late), then
/// reads its reply until `deadline`: `ok` when the statement completed after all (its result
/// is the truth), `failed` when it ended in an error (SQLSTATE 57014 when the cancel stopped
/// it: it did not run) and the connection is in step again, `timed_out` or `broken` when
/// the connection cannot be used now.
Reply cancel_statement(PGconn* pg, steady::time_point deadline);

/// Reads and drops the results of a statement still running on `pg` (one cancelled
/// earlier), until `deadline`. True when the connection is idle again.
bool drain(PGconn* pg, steady::time_point deadline);

/// Routes the connection's notices to `*terminated`, which turns true when the server
/// announces the end of the session (a FATAL or PANIC message, as a terminated or shut down
/// backend sends before closing). Other notices are dropped (not for the application's
/// stderr). `terminated` must outlive the connection.
void watch_for_termination(PGconn* pg, bool* terminated);

/// Whether an idle connection is still good: false once the server closed it or announced
/// it would (`terminated`, from `watch_for_termination`): an idle connection turns readable
/// then, with a last error message and end of file. Anything else it sent (notifications,
/// notices) is read and dropped.
bool idle_connection_is_good(PGconn* pg, const bool& terminated);

}  // namespace verrou::detail::pg
