// SPDX-License-Identifier: Apache-2.0
// Shared by the SOCI tests: servers from the environment, SOCI URLs and sessions for them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <verrou/drivers/soci.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/server.hpp>

#include "detail/url.hpp"
#include "drivers/soci/soci_includes.hpp"
#if defined(VERROU_SOCI_HAVE_SQLITE3)
#include <soci/sqlite3/soci-sqlite3.h>
#endif
#if defined(VERROU_SOCI_HAVE_POSTGRESQL)
#include <soci/postgresql/soci-postgresql.h>
#endif
#if defined(VERROU_SOCI_HAVE_MYSQL)
#include <soci/mysql/soci-mysql.h>
#endif

namespace socitest {

// A server named by the native stores' URL (postgres://user:pass@host:port/db), so one
// environment variable moves every SQL test.
struct Server {
  std::string user, password, host, db;
  std::uint16_t port = 0;
};

inline Server server_from(const char* var, const char* fallback, std::uint16_t default_port) {
  const auto url = verrou::detail::parse_url(verrou::conformance::env_or(var, fallback));
  Server s;
  s.user = url.username.value_or("");
  s.password = url.password.value_or("");
  s.host = url.hosts.empty() ? "127.0.0.1" : url.hosts[0].host;
  s.port = url.hosts.empty() ? default_port : url.hosts[0].port.value_or(default_port);
  s.db = url.path.size() > 1 ? url.path.substr(1) : "";
  return s;
}

inline Server postgres() {
  return server_from("VERROU_POSTGRES_URL", "postgres://verrou:verrou@127.0.0.1:5432/verrou", 5432);
}
inline Server mysql() {
  return server_from("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou", 3306);
}

inline std::string with_query(const std::string& url, const std::string& query) {
  return query.empty() ? url : url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

// soci:// URLs for each path under test; `query` adds verrou's options (table=…).
inline std::string postgres_url(const std::string& query = "") {
  const auto s = postgres();
  return with_query("soci://" + s.user + ":" + s.password + "@postgresql/host=" + s.host +
                        "%20port=" + std::to_string(s.port) + "%20dbname=" + s.db,
                    query);
}
inline std::string mysql_url(const std::string& query = "") {
  const auto s = mysql();
  return with_query("soci://" + s.user + ":" + s.password + "@mysql/host=" + s.host +
                        "%20port=" + std::to_string(s.port) + "%20db=" + s.db,
                    query);
}
inline std::string odbc_url(const std::string& query = "") {
  const auto s = postgres();
  return with_query("soci://" + s.user + ":" + s.password +
                        "@odbc/DRIVER={PostgreSQL%20Unicode};SERVER=" + s.host +
                        ";PORT=" + std::to_string(s.port) + ";DATABASE=" + s.db,
                    query);
}

// Connection strings for the tests' own SOCI sessions.
inline std::string postgres_conn() {
  const auto s = postgres();
  return "host=" + s.host + " port=" + std::to_string(s.port) + " dbname=" + s.db +
         " user=" + s.user + " password=" + s.password + " connect_timeout=3";
}
inline std::string mysql_conn() {
  const auto s = mysql();
  return "host=" + s.host + " port=" + std::to_string(s.port) + " db=" + s.db + " user=" +
         s.user + " password=" + s.password + " connect_timeout=3 charset=utf8mb4";
}

// Why the store at `url` cannot be used, or nullopt.
inline std::optional<std::string> unavailable(const std::string& url, const std::string& what) {
  try {
    auto store = verrou::open_store(url + (url.find('?') == std::string::npos ? "?" : "&") +
                                    "auto_create_table=false");
    auto& db = dynamic_cast<verrou::DatabaseStore&>(*store);
    dynamic_cast<verrou::SociAdapter&>(*db.adapter()).database_now();
    return std::nullopt;
  } catch (const std::exception& e) {
    return "no " + what + " through SOCI: " + e.what();
  }
}

// A table name no other test or process uses.
inline std::string unique_table(const std::string& stem) {
  std::string s = stem + "_" + verrou::conformance::unique_suffix();
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

}  // namespace socitest
