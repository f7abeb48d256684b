// SPDX-License-Identifier: Apache-2.0
//
// testing/server.hpp: helpers for tests that need a server (Redis, PostgreSQL, …).
//
// A test reads the server's address from the environment with a loopback default, and skips
// with a clear message when the server is unreachable, unless `VERROU_REQUIRE_SERVERS=1`,
// where it fails instead (CI sets it, so a missing server can never pass as a skip):
//
//   TEST(Redis, Something) {
//     auto url = verrou::conformance::env_or("VERROU_REDIS_URL", "redis://127.0.0.1:6379");
//     if (auto why = reachable(url)) VERROU_SKIP_OR_FAIL(*why);
//     ...
//   }
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace verrou::conformance {

/// True when `VERROU_REQUIRE_SERVERS=1`: unreachable servers fail tests instead of skipping.
bool servers_required();

/// The environment variable `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, std::string_view fallback);

/// A string unique to this process and call: for keys and table names in tests.
std::string unique_suffix();

}  // namespace verrou::conformance

/// Skips the current test with `reason`, or fails it when `VERROU_REQUIRE_SERVERS=1`.
/// Use in a test body or `SetUp` (it returns from the enclosing function).
#define VERROU_SKIP_OR_FAIL(reason)                                                      \
  do {                                                                                   \
    if (::verrou::conformance::servers_required()) {                                     \
      GTEST_FAIL() << (reason) << " (VERROU_REQUIRE_SERVERS=1, so this is a failure; "   \
                   << "start the servers with scripts/servers.sh start)";                \
    }                                                                                    \
    GTEST_SKIP() << (reason) << " (set VERROU_REQUIRE_SERVERS=1 to fail instead)";       \
  } while (false)
