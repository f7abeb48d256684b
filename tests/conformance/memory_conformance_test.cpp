// SPDX-License-Identifier: Apache-2.0
#include <verrou/drivers/memory.hpp>
#include <verrou/testing/conformance.hpp>

using verrou::conformance::StoreConformance;

INSTANTIATE_TEST_SUITE_P(
    Memory, StoreConformance,
    ::testing::Values(verrou::conformance::StoreHarness{
        .name = "memory",
        .make_store = [] { return std::make_shared<verrou::MemoryStore>(); },
        .short_ttl = std::chrono::milliseconds(150),
        .contention_cycles = 5000,
        .require_fencing = true,
        .require_semaphores = true,
        .stores_share_data = false,
    }),
    verrou::conformance::harness_name);
