// SPDX-License-Identifier: Apache-2.0
// Shared by the PostgreSQL tests: the server's URL, reachability, unique table names.
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <optional>
#include <string>

#include <verrou/testing/server.hpp>

namespace pgtest {

inline std::string url() {
  return verrou::conformance::env_or("VERROU_POSTGRES_URL",
                                     "postgres://verrou:verrou@127.0.0.1:5432/verrou");
}

// The URL as libpq reads it (it knows postgres:// URIs; verrou's options are added by tests).
inline std::optional<std::string> unavailable(const std::string& u = url()) {
  PGconn* c = PQconnectdb((u + (u.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=2").c_str());
  std::optional<std::string> why;
  if (PQstatus(c) != CONNECTION_OK) {
    why = "no PostgreSQL at " + u.substr(u.find('@') + 1) + ": " + PQerrorMessage(c);
  }
  PQfinish(c);
  return why;
}

// A table name no other test or process uses.
inline std::string unique_table(const std::string& stem) {
  std::string s = stem + "_" + verrou::conformance::unique_suffix();
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

// Runs SQL on a connection of its own; returns the first value of the first row ("" if none).
inline std::string query(const std::string& sql) {
  PGconn* c = PQconnectdb(url().c_str());
  PGresult* r = PQexec(c, sql.c_str());
  std::string out;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
    out = std::string("ERROR: ") + PQresultErrorMessage(r);
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

}  // namespace pgtest
