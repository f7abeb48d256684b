// SPDX-License-Identifier: Apache-2.0
// Shared by the MySQL/MariaDB tests: the server's URL, reachability, unique table names.
#pragma once

#include <mysql.h>

#include <algorithm>
#include <optional>
#include <string>

#include <verrou/testing/server.hpp>

namespace mytest {

inline std::string url() {
  return verrou::conformance::env_or("VERROU_MYSQL_URL",
                                     "mysql://verrou:verrou@127.0.0.1:3306/verrou");
}

// The parts of a mysql://user:pass@host:port/db URL, for the tests' own connections.
struct Parts {
  std::string user, password, host, db;
  unsigned port = 3306;
};
inline Parts parts(const std::string& u = url()) {
  Parts p;
  auto rest = u.substr(u.find("://") + 3);
  auto at = rest.rfind('@');
  auto cred = rest.substr(0, at);
  rest = rest.substr(at + 1);
  p.user = cred.substr(0, cred.find(':'));
  p.password = cred.find(':') == std::string::npos ? "" : cred.substr(cred.find(':') + 1);
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  p.db = rest.substr(slash + 1, rest.find('?') == std::string::npos ? std::string::npos
                                                                    : rest.find('?') - slash - 1);
  p.host = hostport.substr(0, hostport.find(':'));
  if (hostport.find(':') != std::string::npos) {
    p.port = static_cast<unsigned>(std::stoul(hostport.substr(hostport.find(':') + 1)));
  }
  return p;
}

inline MYSQL* connect() {
  auto p = parts();
  MYSQL* m = mysql_init(nullptr);
  unsigned timeout = 2;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (mysql_real_connect(m, p.host.c_str(), p.user.c_str(), p.password.c_str(), p.db.c_str(),
                         p.port, nullptr, 0) == nullptr) {
    return m;  // the caller checks mysql_errno
  }
  return m;
}

inline std::optional<std::string> unavailable() {
  MYSQL* m = connect();
  std::optional<std::string> why;
  if (mysql_errno(m) != 0) why = "no MySQL/MariaDB at " + parts().host + ":" +
                                 std::to_string(parts().port) + ": " + mysql_error(m);
  mysql_close(m);
  return why;
}

inline std::string unique_table(const std::string& stem) {
  std::string s = stem + "_" + verrou::conformance::unique_suffix();
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

// Runs SQL on a connection of its own; returns the first value of the first row ("" if none).
inline std::string query(const std::string& sql) {
  MYSQL* m = connect();
  std::string out;
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    out = std::string("ERROR: ") + mysql_error(m);
  } else if (MYSQL_RES* r = mysql_store_result(m)) {
    if (MYSQL_ROW row = mysql_fetch_row(r); row != nullptr && row[0] != nullptr) out = row[0];
    mysql_free_result(r);
  }
  mysql_close(m);
  return out;
}

}  // namespace mytest
