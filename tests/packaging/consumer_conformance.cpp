// SPDX-License-Identifier: Apache-2.0
// How a user runs the installed conformance suite against a store of their own.
#include <verrou/drivers/memory.hpp>
#include <verrou/testing/conformance.hpp>

using verrou::conformance::StoreConformance;

INSTANTIATE_TEST_SUITE_P(
    UserStore, StoreConformance,
    ::testing::Values(verrou::conformance::StoreHarness{
        .name = "user_store",
        .make_store = [] { return std::make_shared<verrou::MemoryStore>(); },
        .short_ttl = std::chrono::milliseconds(150),
        .contention_cycles = 200,
        .stores_share_data = false,
    }),
    verrou::conformance::harness_name);
