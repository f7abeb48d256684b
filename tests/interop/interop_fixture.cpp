// SPDX-License-Identifier: Apache-2.0
// The stores the interop tests run on (their URLs, from the environment with loopback
// defaults), whether a store's server can be reached, and the instantiation of the tests.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "interop_fixture.hpp"

namespace verrou::interop {
namespace {

using verrou::conformance::env_or;

std::string with_param(std::string url, const std::string& name, const std::string& value) {
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + name + "=" + value;
}

std::string redis_url(const std::string&) {
  return env_or("VERROU_REDIS_URL", "redis://127.0.0.1:6379");
}
// No table option: both libraries' default table name, `verrou`, is used (the file is unique).
std::string sqlite_url(const std::string& unique) {
  return "sqlite://" + env_or("TMPDIR", "/tmp") + "/verrou-interop-" + unique + ".db";
}
std::string postgres_url(const std::string& unique) {
  return with_param(env_or("VERROU_POSTGRES_URL", "postgres://verrou:verrou@127.0.0.1:5432/verrou"),
                    "table", unique);
}
std::string mysql_url(const std::string& unique) {
  return with_param(env_or("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou"),
                    "table", unique);
}
[[maybe_unused]] std::string dynalite_url(const std::string& unique) {
  return with_param(env_or("VERROU_DYNAMODB_URL",
                           "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000"),
                    "table", unique);
}
[[maybe_unused]] std::string dynamodb_local_url(const std::string& unique) {
  return with_param(env_or("VERROU_DYNAMODB_LOCAL_URL",
                           "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001"),
                    "table", unique);
}

// host:port a store URL connects to (nullopt for a file).
std::optional<std::pair<std::string, std::string>> server_of(const std::string& url) {
  std::string authority;
  if (const auto e = url.find("endpoint="); e != std::string::npos) {
    authority = url.substr(e + 9);
    authority = authority.substr(authority.find("://") + 3);
  } else if (url.rfind("sqlite:", 0) == 0) {
    return std::nullopt;
  } else {
    authority = url.substr(url.find("://") + 3);
  }
  authority = authority.substr(0, authority.find_first_of("/?&"));
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(authority.substr(0, colon), authority.substr(colon + 1));
}

std::string target_name(const ::testing::TestParamInfo<Target>& param) { return param.param.name; }

}  // namespace

std::vector<Target> targets() {
  std::vector<Target> out;
#if defined(VERROU_HAS_REDIS)
  out.push_back({"Redis", Kind::redis, redis_url});
#endif
#if defined(VERROU_HAS_SQLITE)
  out.push_back({"SQLite", Kind::sqlite, sqlite_url});
  out.push_back({"SQLite_kysely", Kind::sqlite, sqlite_url, "kysely"});
#endif
#if defined(VERROU_HAS_POSTGRES)
  out.push_back({"PostgreSQL", Kind::sql_server, postgres_url});
  out.push_back({"PostgreSQL_kysely", Kind::sql_server, postgres_url, "kysely"});
#endif
#if defined(VERROU_HAS_MYSQL)
  out.push_back({"MariaDB", Kind::sql_server, mysql_url});
  out.push_back({"MariaDB_kysely", Kind::sql_server, mysql_url, "kysely"});
#endif
#if defined(VERROU_HAS_DYNAMODB)
  out.push_back({"DynamoDB_dynalite", Kind::dynamodb, dynalite_url});
  out.push_back({"DynamoDB_Local", Kind::dynamodb, dynamodb_local_url});
#endif
  return out;
}

// (A plain connect has no side effects: it creates no table, unlike opening a store.)
std::optional<std::string> unreachable(const std::string& url) {
  const auto server = server_of(url);
  if (!server) return std::nullopt;
  const std::string where = server->first + ":" + server->second;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(server->first.c_str(), server->second.c_str(), &hints, &found) != 0) {
    return "cannot resolve " + where;
  }
  bool ok = false;
  for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::poll(&p, 1, 2000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
           err == 0;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (ok) return std::nullopt;
  return "no server at " + where;
}

// This program links the conformance suite's library for its server helpers only.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

INSTANTIATE_TEST_SUITE_P(Stores, Interop, ::testing::ValuesIn(targets()), target_name);

}  // namespace verrou::interop
