// SPDX-License-Identifier: Apache-2.0
// The conformance suite on the shared etcd member (VERROU_ETCD_URL, default
// etcd://127.0.0.1:2379), with fencing tokens and semaphores required, in both expiry modes:
// `etcd` (lease: etcd's leases judge expiry, whole seconds, so the expiry checks use a 2 s
// TTL) and `etcd_clock` (each reader's clock judges it: 300 ms).
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"
#include "verrou/testing/conformance.hpp"

namespace {

using verrou::conformance::StoreConformance;

std::string etcd_url() {
  return verrou::conformance::env_or("VERROU_ETCD_URL", "etcd://127.0.0.1:2379");
}

std::string with_expiry(const std::string& mode) {
  const std::string url = etcd_url();
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "expiry=" + mode;
}

// Asked once per run, with a short deadline, so an absent etcd skips every test quickly.
std::optional<std::string> etcd_unavailable() {
  static const std::optional<std::string> why = []() -> std::optional<std::string> {
    try {
      auto options = verrou::EtcdStoreOptions::from_url(etcd_url());
      options.operation_timeout = std::chrono::seconds(2);
      verrou::EtcdStore(options).ping();
      return std::nullopt;
    } catch (const verrou::Error& e) {
      return "no etcd at " + verrou::redact_url(etcd_url()) +
             " (scripts/servers.sh start etcd): " + e.what();
    }
  }();
  return why;
}

INSTANTIATE_TEST_SUITE_P(
    Etcd, StoreConformance,
    ::testing::Values(
        verrou::conformance::StoreHarness{
            .name = "etcd",
            .make_store = [] { return verrou::open_store(with_expiry("lease")); },
            .unavailable = etcd_unavailable,
            // A lock is free to others once etcd deletes its key: its TTL rounded up to whole
            // seconds (3 s for 2 s), plus up to 0.5 s for etcd to notice. The suite waits
            // twice the TTL for an expiry.
            .short_ttl = std::chrono::seconds(2),
            .contention_cycles = 150,
            .require_fencing = true,
            .require_semaphores = true,
        },
        verrou::conformance::StoreHarness{
            .name = "etcd_clock",
            .make_store = [] { return verrou::open_store(with_expiry("clock")); },
            .unavailable = etcd_unavailable,
            .contention_cycles = 150,
            .require_fencing = true,
            .require_semaphores = true,
        }),
    verrou::conformance::harness_name);

}  // namespace
