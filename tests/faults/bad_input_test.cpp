// SPDX-License-Identifier: Apache-2.0
//
// Bad input through open_store, per store: unknown options, bad ports, booleans, durations and
// sizes, SQL in table names, retry attempts 0 — each must be InvalidArgumentError naming what
// was wrong. And secrets: a failing connection with a password in the URL must keep that
// password out of the error message and out of every log record.
//
// Key and TTL edge cases (empty, 10 000 bytes, NUL, non-UTF-8, TTL 0/negative/huge) are in the
// conformance suite; malformed JSON and URLs in tests/unit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "verrou/verrou.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using verrou::InvalidArgumentError;

// A password distinctive enough that finding it anywhere means it leaked, and its
// percent-encoded form as it appears in URLs.
constexpr const char* kSecret = "Pw-9f3kQ@x/y";
constexpr const char* kSecretInUrl = "Pw-9f3kQ%40x%2Fy";
constexpr const char* kSecretCore = "9f3kQ";  // in both forms

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// The message of the InvalidArgumentError that opening `url` must throw ("" and a test failure
// when it throws nothing or another kind).
std::string invalid_argument_message(const std::string& url) {
  try {
    auto store = verrou::open_store(url);
    ADD_FAILURE() << "open_store accepted " << verrou::redact_url(url);
  } catch (const InvalidArgumentError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "open_store(" << verrou::redact_url(url)
                  << ") threw something other than InvalidArgumentError: " << e.what();
  }
  return "";
}

void expect_refused(const std::string& url, const std::string& mentions) {
  SCOPED_TRACE(verrou::redact_url(url));
  const std::string message = invalid_argument_message(url);
  EXPECT_THAT(message, HasSubstr(mentions));
  EXPECT_THAT(message, Not(HasSubstr(kSecretCore))) << "the password leaked";
}

// SQL that must never reach a statement: each is refused as a table name.
const std::vector<std::string> kHostileTables = {
    "verrou%3B%20DROP%20TABLE%20x",  // verrou; DROP TABLE x
    "verrou'",                       // quote
    "ver%22rou",                     // double quote
    "ver%60rou",                     // backquote
    "verrou--",                      // comment
    "verrou%20x",                    // space
    "x%2F*%20*%2F",                  // /* */
    std::string(300, 't'),           // too long for any of the databases
};

// Options every SQL store reads; `base` ends with the path, before '?'.
void expect_sql_store_refuses_bad_options(const std::string& base) {
  expect_refused(base + "?bogus_option=1", "bogus_option");
  expect_refused(base + "?tabel=verrou", "tabel");  // a typo is not ignored
  expect_refused(base + "?auto_create_table=maybe", "auto_create_table");
  expect_refused(base + "?pool_size=0", "pool_size");
  expect_refused(base + "?pool_size=-1", "pool_size");
  expect_refused(base + "?pool_size=many", "pool_size");
  expect_refused(base + "?pool_size=99999999999999999999999", "pool_size");
  expect_refused(base + "?table=", "table");
  for (const auto& table : kHostileTables) expect_refused(base + "?table=" + table, "table");
  expect_refused(base + "?table=verrou%00x", "%00");  // NUL: refused by the URL parser
}

// --- URL grammar, whatever the store ------------------------------------------------------

TEST(BadInput, PortsOutOfRangeOrNotNumbers) {
  const std::string pw = std::string("u:") + kSecretInUrl + "@";
  for (const std::string scheme : {"redis", "postgres", "mysql", "redis+cluster"}) {
    for (const std::string port : {"99999", "65536", "abc", "-1", "1x", "", "0x10"}) {
      const std::string url = scheme + "://" + pw + "127.0.0.1:" + port + "/db";
      SCOPED_TRACE(verrou::redact_url(url));
      try {
        auto store = verrou::open_store(url);
        // An empty port means the default one; everything else must be refused.
        EXPECT_TRUE(port.empty()) << "accepted";
      } catch (const InvalidArgumentError& e) {
        EXPECT_THAT(std::string(e.what()), Not(HasSubstr(kSecretCore)));
      } catch (const verrou::LockStorageError& e) {
        // Only the default port may get as far as connecting (and then fail to).
        EXPECT_TRUE(port.empty()) << e.what();
        EXPECT_THAT(std::string(e.what()), Not(HasSubstr(kSecretCore)));
      }
    }
  }
}

TEST(BadInput, UnknownSchemeAndMemoryOptions) {
  expect_refused("nosuchstore://127.0.0.1", "nosuchstore");
  expect_refused(std::string("nosuchstore://u:") + kSecretInUrl + "@127.0.0.1", "nosuchstore");
  expect_refused("memory:?bogus=1", "bogus");
}

TEST(BadInput, RetryAttemptsZeroIsRefused) {
  auto store = verrou::open_store("memory:");
  EXPECT_THROW(verrou::LockFactory(store, {.retry = {.attempts = 0}}), InvalidArgumentError);
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock("bad-input:attempts-zero");
  EXPECT_THROW((void)lock.acquire({.retry = {.attempts = 0}}), InvalidArgumentError);
  EXPECT_THROW((void)lock.run([] {}, {.retry = {.attempts = 0}}), InvalidArgumentError);
  EXPECT_FALSE(lock.is_locked()) << "a refused acquire must not take the lock";
  EXPECT_THROW((void)lock.acquire({.retry = {.delay = verrou::Duration(-1)}}),
               InvalidArgumentError);
  EXPECT_THROW((void)lock.acquire({.retry = {.timeout = verrou::Duration(-1)}}),
               InvalidArgumentError);
}

// --- Per store -----------------------------------------------------------------------------

#ifdef VERROU_HAS_SQLITE
TEST(BadInput, SqliteOptionsAndTableNames) {
  const std::string path = ::testing::TempDir() + "verrou-bad-input-" + unique_suffix() + ".db";
  expect_sql_store_refuses_bad_options("sqlite://" + path);
  expect_refused("sqlite://" + path + "?busy_timeout=soon", "busy_timeout");
  expect_refused("sqlite://" + path + "?busy_timeout=0", "busy_timeout");
  expect_refused("sqlite://relative/path.db", "sqlite");
  std::remove(path.c_str());
}
#endif

#ifdef VERROU_HAS_POSTGRES
TEST(BadInput, PostgresOptionsAndTableNames) {
  const std::string base =
      std::string("postgres://verrou:") + kSecretInUrl + "@127.0.0.1:5432/verrou";
  expect_sql_store_refuses_bad_options(base);
  expect_refused(base + "?connect_timeout=soon", "connect_timeout");
  expect_refused(base + "?query_timeout=-1s", "query_timeout");
}
#endif

#ifdef VERROU_HAS_MYSQL
TEST(BadInput, MysqlOptionsAndTableNames) {
  const std::string base = std::string("mysql://verrou:") + kSecretInUrl + "@127.0.0.1:3306/verrou";
  expect_sql_store_refuses_bad_options(base);
  expect_refused(base + "?connect_timeout=soon", "connect_timeout");
  expect_refused(base + "?query_timeout=0", "query_timeout");
}
#endif

#ifdef VERROU_HAS_REDIS
TEST(BadInput, RedisOptions) {
  for (const std::string scheme : {"redis", "rediss", "redis+cluster"}) {
    const std::string base = scheme + "://user:" + kSecretInUrl + "@127.0.0.1:6379";
    expect_refused(base + "?bogus_option=1", "bogus_option");
    expect_refused(base + "?pool_size=0", "pool_size");
    expect_refused(base + "?pool_size=lots", "pool_size");
    expect_refused(base + "?connect_timeout=soon", "connect_timeout");
    expect_refused(base + "?command_timeout=0", "command_timeout");
    expect_refused(base + "?insecure_skip_verify=maybe", "insecure_skip_verify");
    expect_refused(base + "?db=-1", "db");
    expect_refused(base + "?db=zero", "db");
  }
  expect_refused(std::string("redis://:") + kSecretInUrl + "@127.0.0.1:6379/notanumber",
                 "database");
  expect_refused(std::string("redis://127.0.0.1:6379?password=") + kSecretInUrl + "&bogus=1",
                 "bogus");
}
#endif

#ifdef VERROU_HAS_DYNAMODB
TEST(BadInput, DynamodbOptionsAndTableNames) {
  const std::string base = "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000";
  expect_refused(base + "&table=verrou&bogus_option=1", "bogus_option");
  expect_refused(base + "&table=verrou&create_table=maybe", "create_table");
  expect_refused(base + "&table=verrou&request_timeout=soon", "request_timeout");
  for (const std::string& table : std::vector<std::string>{"verrou%3B%20DROP%20TABLE%20x", "a'b",
                                                           "ab", "x%22y", std::string(300, 't')}) {
    expect_refused(base + "&table=" + table, "table");
  }
}
#endif

#ifdef VERROU_HAS_ETCD
TEST(BadInput, EtcdOptions) {
  const std::string base = std::string("etcd://user:") + kSecretInUrl + "@127.0.0.1:2379";
  expect_refused(base + "?bogus_option=1", "bogus_option");
  expect_refused(base + "?prefx=a", "prefx");
  expect_refused(base + "?ca_file=/x", "etcds://");
  expect_refused(base + "?request_timeout=soon", "request_timeout");
  expect_refused(base + "?operation_timeout=0ms", "operation_timeout");
  expect_refused(base + "/path", "path");
  expect_refused(std::string("etcds://user:") + kSecretInUrl + "@h?cert_file=/c.pem", "key_file");
  expect_refused(std::string("etcd://user:") + kSecretInUrl + "@", "member");
}
#endif

// --- Secrets -------------------------------------------------------------------------------

// Opens `url` and tries one lock cycle with a trace-level logger; the attempt must fail with
// a verrou::Error, and neither its message nor the log may contain the password.
void expect_failure_keeps_secret(const std::string& url) {
  SCOPED_TRACE(verrou::redact_url(url));
  std::ostringstream captured;
  auto logger = std::make_shared<verrou::StreamLogger>(captured, verrou::LogLevel::trace);
  std::string message;
  try {
    verrou::LockFactory locks(verrou::open_store(url), {.logger = logger});
    auto lock = locks.create_lock("bad-input:secret:" + unique_suffix());
    (void)lock.acquire({.retry = {.attempts = 2, .delay = verrou::Duration(10)}});
    ADD_FAILURE() << "a lock cycle succeeded with a wrong password or an unreachable server";
  } catch (const verrou::Error& e) {
    message = e.what();
  }
  EXPECT_FALSE(message.empty());
  for (const std::string& form : std::vector<std::string>{kSecret, kSecretInUrl, kSecretCore}) {
    EXPECT_THAT(message, Not(HasSubstr(form))) << "the password leaked into the error";
    EXPECT_THAT(captured.str(), Not(HasSubstr(form))) << "the password leaked into the log";
  }
}

#ifdef VERROU_HAS_POSTGRES
TEST(Secrets, PostgresPasswordStaysOutOfErrorsAndLogs) {
  // Nothing listens on port 1; then a live server refusing a wrong password.
  expect_failure_keeps_secret(std::string("postgres://verrou:") + kSecretInUrl +
                              "@127.0.0.1:1/verrou?connect_timeout=2s");
  expect_failure_keeps_secret(std::string("postgres://verrou:") + kSecretInUrl +
                              "@127.0.0.1:5432/verrou?connect_timeout=2s");
}
#endif

#ifdef VERROU_HAS_MYSQL
TEST(Secrets, MysqlPasswordStaysOutOfErrorsAndLogs) {
  expect_failure_keeps_secret(std::string("mysql://verrou:") + kSecretInUrl +
                              "@127.0.0.1:1/verrou?connect_timeout=2s");
  expect_failure_keeps_secret(std::string("mysql://verrou:") + kSecretInUrl +
                              "@127.0.0.1:3306/verrou?connect_timeout=2s");
}
#endif

#ifdef VERROU_HAS_REDIS
TEST(Secrets, RedisPasswordStaysOutOfErrorsAndLogs) {
  expect_failure_keeps_secret(std::string("redis://user:") + kSecretInUrl +
                              "@127.0.0.1:1?connect_timeout=1s");
  // The shared Redis has no password: AUTH with one fails.
  expect_failure_keeps_secret(std::string("redis://someone:") + kSecretInUrl +
                              "@127.0.0.1:6379?connect_timeout=1s");
  expect_failure_keeps_secret(std::string("redis://127.0.0.1:6379?connect_timeout=1s&password=") +
                              kSecretInUrl);
  expect_failure_keeps_secret(std::string("redis+cluster://user:") + kSecretInUrl +
                              "@127.0.0.1:1?connect_timeout=1s");
}
#endif

#ifdef VERROU_HAS_ETCD
TEST(Secrets, EtcdPasswordStaysOutOfErrorsAndLogs) {
  expect_failure_keeps_secret(std::string("etcd://user:") + kSecretInUrl +
                              "@127.0.0.1:1?operation_timeout=500ms");
  // The shared member has no authentication: authenticating fails.
  expect_failure_keeps_secret(std::string("etcd://user:") + kSecretInUrl +
                              "@127.0.0.1:2379?operation_timeout=2s");
}
#endif

#ifdef VERROU_HAS_DYNAMODB
TEST(Secrets, AwsSecretKeyStaysOutOfErrorsAndLogs) {
  ::setenv("AWS_ACCESS_KEY_ID", "verrou-test", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecret, 1);
  expect_failure_keeps_secret(
      "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:1&table=verrou_tests"
      "&connect_timeout=1s&retry_deadline=1s");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}
#endif

#ifdef VERROU_HAS_REDIS
// A store that works, reached with a real password: the records of a whole lock cycle, and
// of a release that fails after a callback threw (logged at warn with the error), must not
// contain it. The TLS Redis of the tests has an ACL user with a generated password.
std::string tls_redis_url() {
  std::string url;
  if (const char* env = std::getenv("VERROU_REDIS_TLS_URL"); env != nullptr && *env != '\0') {
    url = env;
  } else {
    const char* dir = std::getenv("VERROU_SERVERS_DIR");
    std::ifstream file(std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp/verrou-servers") +
                       "/redis-tls/url");
    std::getline(file, url);
  }
  return url;
}

TEST(Secrets, WorkingStoreLogsNoPassword) {
  const std::string url = tls_redis_url();
  const auto at = url.find('@');
  const auto colon = url.rfind(':', at);
  if (url.empty() || at == std::string::npos || colon == std::string::npos || colon < 9) {
    const char* required = std::getenv("VERROU_REQUIRE_SERVERS");
    if (required != nullptr && std::string(required) == "1") FAIL() << "no TLS Redis URL";
    GTEST_SKIP() << "no TLS Redis URL (scripts/servers.sh start redis-tls)";
  }
  const std::string password = url.substr(colon + 1, at - colon - 1);
  ASSERT_GE(password.size(), 8U) << "the generated password should be long";
  std::ostringstream captured;
  auto logger = std::make_shared<verrou::StreamLogger>(captured, verrou::LogLevel::trace);
  verrou::LockFactory locks(verrou::open_store(url), {.logger = logger});
  auto lock = locks.create_lock("bad-input:logged:" + unique_suffix());
  ASSERT_TRUE(lock.acquire_immediately());
  lock.extend();
  lock.release();
  EXPECT_THROW(lock.run([&] {
    lock.force_release();  // the release after the throw then fails, and is logged
    throw std::runtime_error("callback failed");
  }),
               std::runtime_error);
  const std::string log = captured.str();
  EXPECT_THAT(log, HasSubstr("acquired"));
  EXPECT_THAT(log, HasSubstr("warn"));
  EXPECT_THAT(log, Not(HasSubstr(password)));

  // Without ca_file the system's trust store is used, which does not know the test server's
  // own CA: the connection must be refused, not silently accepted.
  const std::string no_ca = url.substr(0, url.find('?')) + "?connect_timeout=2s";
  verrou::LockFactory strict(verrou::open_store(no_ca));
  try {
    (void)strict.create_lock("bad-input:tls:" + unique_suffix()).acquire_immediately();
    ADD_FAILURE() << "TLS accepted a certificate no trusted CA signed";
  } catch (const verrou::LockStorageError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("certificate"));
    EXPECT_THAT(std::string(e.what()), Not(HasSubstr(password)));
  }
}
#endif

TEST(Secrets, RedactUrlHidesEveryFormOfThePassword) {
  for (const std::string& url : std::vector<std::string>{
           std::string("postgres://verrou:") + kSecretInUrl + "@db:5432/verrou",
           std::string("redis://:") + kSecretInUrl + "@cache:6379/0",
           std::string("redis://cache:6379?password=") + kSecretInUrl,
           std::string("redis+cluster://u:") + kSecretInUrl + "@a:1,b:2",
           std::string("mysql://u:") + kSecretInUrl + "@[::1]:3306/db?table=t",
           std::string("postgres://u:") + kSecretInUrl + "@",              // truncated
           std::string("postgres://u:") + kSecretInUrl + "@h:99999999/d",  // bad port
       }) {
    EXPECT_THAT(verrou::redact_url(url), Not(HasSubstr(kSecretCore))) << url;
  }
}

}  // namespace
