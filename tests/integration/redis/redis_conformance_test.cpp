// SPDX-License-Identifier: Apache-2.0
// The store conformance suite on every way of reaching Redis: TCP, a Unix socket, TLS with an
// ACL user, a key prefix, and a 3-master cluster.
#include <verrou/testing/conformance.hpp>


#include "redis_test_support.hpp"

using verrou::conformance::StoreConformance;
using verrou::conformance::StoreHarness;

namespace {

StoreHarness harness(std::string name, std::string (*url)(), std::string prefix = {}) {
  return StoreHarness{
      .name = std::move(name),
      .make_store = [url, prefix]() -> std::shared_ptr<verrou::LockStore> {
        return verrou::redis_test::make_store(url(), prefix);
      },
      .unavailable = [url] { return verrou::redis_test::unavailable(url()); },
      .short_ttl = std::chrono::milliseconds(300),
      .contention_cycles = 300,
      .require_fencing = true,
      .require_semaphores = true,
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(
    Redis, StoreConformance,
    ::testing::Values(harness("standalone", verrou::redis_test::standalone_url),
                      harness("unix_socket", verrou::redis_test::unix_url),
                      harness("key_prefix", verrou::redis_test::standalone_url, "app{1}:"),
                      harness("tls_acl", verrou::redis_test::tls_url),
                      harness("cluster", verrou::redis_test::cluster_url)),
    verrou::conformance::harness_name);
