// SPDX-License-Identifier: Apache-2.0
#include "drivers/postgres/connection.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <string_view>
#include <vector>

#include "detail/text.hpp"

namespace verrou::detail::pg {

std::string error_of(const PGconn* pg) {
  const char* m = PQerrorMessage(pg);
  return trim_end(m != nullptr ? m : "");
}

ConnectSettings::ConnectSettings(std::string conninfo, Duration connect_timeout)
    : conninfo_(std::move(conninfo)),
      timeout_seconds_(
          std::to_string(std::max<std::int64_t>(1, (connect_timeout.count() + 999) / 1000))),
      connect_timeout_(connect_timeout) {}

namespace {

// Keywords are applied in order, and `dbname` (expanded) last, so whatever the conninfo sets
// wins over these defaults.
struct Params {
  std::vector<const char*> keywords;
  std::vector<const char*> values;
};

Params params_of(const std::string& timeout, const std::string& conninfo, bool keepalives) {
  Params p;
  auto add = [&](const char* k, const char* v) {
    p.keywords.push_back(k);
    p.values.push_back(v);
  };
  add("connect_timeout", timeout.c_str());
  add("fallback_application_name", "verrou");
  if (keepalives) {
    // A connection that only waits sends nothing: without TCP keepalives, a peer that
    // vanished without closing (a failover moving an address, a NAT forgetting the flow)
    // would leave it waiting for good.
    add("keepalives", "1");
    add("keepalives_idle", "10");
    add("keepalives_interval", "5");
    add("keepalives_count", "3");
  }
  add("dbname", conninfo.c_str());
  add(nullptr, nullptr);
  return p;
}

}  // namespace

PGconn* ConnectSettings::connect() const {
  const Params p = params_of(timeout_seconds_, conninfo_, keepalives_);
  return PQconnectdbParams(p.keywords.data(), p.values.data(), 1);
}

PGconn* ConnectSettings::start() const {
  const Params p = params_of(timeout_seconds_, conninfo_, keepalives_);
  return PQconnectStartParams(p.keywords.data(), p.values.data(), 1);
}

Ready wait_ready(int fd, short events, steady::time_point deadline, int other_fd) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) return Ready::timeout;
    std::array<pollfd, 2> p{pollfd{fd, events, 0}, pollfd{other_fd, POLLIN, 0}};
    const nfds_t n = other_fd >= 0 ? 2 : 1;
    const int r = poll(p.data(), n, static_cast<int>(std::min<std::int64_t>(left, 60'000)));
    if (r > 0) return p[0].revents != 0 ? Ready::socket : Ready::other;
    if (r < 0 && errno != EINTR) return Ready::socket;  // let libpq report the socket's error
  }
}

Reply finish_statement(PGconn* pg, steady::time_point deadline) {
  Reply reply;
  auto fail = [&](Reply::Status status, std::string why) {
    reply.status = status;
    reply.error = std::move(why);
    reply.result.reset();
    return std::move(reply);
  };
  for (;;) {
    const int f = PQflush(pg);
    if (f == 0) break;
    if (f < 0) return fail(Reply::Status::broken, error_of(pg));
    if (wait_ready(PQsocket(pg), POLLOUT | POLLIN, deadline) == Ready::timeout) {
      return fail(Reply::Status::timed_out, "no reply within the query timeout");
    }
    if (PQconsumeInput(pg) == 0) return fail(Reply::Status::broken, error_of(pg));
  }
  Result last;
  Result error;
  for (;;) {
    while (PQisBusy(pg) != 0) {
      if (wait_ready(PQsocket(pg), POLLIN, deadline) == Ready::timeout) {
        return fail(Reply::Status::timed_out, "no reply within the query timeout");
      }
      if (PQconsumeInput(pg) == 0) return fail(Reply::Status::broken, error_of(pg));
    }
    Result r(PQgetResult(pg));
    if (!r) break;
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !error) {
      error = std::move(r);
    } else {
      last = std::move(r);
    }
  }
  if (error) {
    const char* state = PQresultErrorField(error.get(), PG_DIAG_SQLSTATE);
    reply.sqlstate = state != nullptr ? state : "";
    std::string cause = trim_end(PQresultErrorMessage(error.get()));
    if (!reply.sqlstate.empty()) cause += " (SQLSTATE " + reply.sqlstate + ")";
    return fail(PQstatus(pg) == CONNECTION_OK ? Reply::Status::failed : Reply::Status::broken,
                std::move(cause));
  }
  if (PQstatus(pg) != CONNECTION_OK) return fail(Reply::Status::broken, error_of(pg));
  if (!last) return fail(Reply::Status::failed, "no result");
  reply.result = std::move(last);
  return reply;
}

bool drain(PGconn* pg, steady::time_point deadline) {
  if (PQstatus(pg) != CONNECTION_OK) return false;
  for (;;) {
    if (PQflush(pg) != 0) {
      if (wait_ready(PQsocket(pg), POLLOUT | POLLIN, deadline) == Ready::timeout) return false;
      if (PQconsumeInput(pg) == 0) return false;
      continue;
    }
    while (PQisBusy(pg) != 0) {
      if (wait_ready(PQsocket(pg), POLLIN, deadline) == Ready::timeout) return false;
      if (PQconsumeInput(pg) == 0) return false;
    }
    Result r(PQgetResult(pg));
    if (!r) break;
  }
  return PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_ACTIVE;
}

Reply cancel_statement(PGconn* pg, steady::time_point deadline) {
  if (PGcancel* cancel = PQgetCancel(pg)) {
    std::array<char, 256> why{};
    // A refused cancel request changes nothing: the statement then ends by itself, and the
    // reading below waits for it within the deadline.
    (void)PQcancel(cancel, why.data(), static_cast<int>(why.size()));
    PQfreeCancel(cancel);
  }
  return finish_statement(pg, deadline);
}

namespace {
void on_notice(void* arg, const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity != nullptr &&
      (std::string_view(severity) == "FATAL" || std::string_view(severity) == "PANIC")) {
    *static_cast<bool*>(arg) = true;
  }
}
}  // namespace

void watch_for_termination(PGconn* pg, bool* terminated) {
  PQsetNoticeReceiver(pg, &on_notice, terminated);
}

bool idle_connection_is_good(PGconn* pg, const bool& terminated) {
  if (PQstatus(pg) != CONNECTION_OK || terminated) return false;
  pollfd p{PQsocket(pg), POLLIN, 0};
  if (p.fd < 0) return false;
  while (poll(&p, 1, 0) > 0) {
    if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return false;
    // Reading is not parsing: PQisBusy has libpq parse what came, so an error message sent
    // to an idle session (the server ending it) reaches the notice receiver.
    if (PQconsumeInput(pg) == 0 || PQstatus(pg) != CONNECTION_OK) return false;
    (void)PQisBusy(pg);
    while (PGnotify* n = PQnotifies(pg)) PQfreemem(n);
    if (terminated) return false;
    p.revents = 0;
  }
  return true;
}

}  // namespace verrou::detail::pg
