// SPDX-License-Identifier: Apache-2.0
// The store conformance suite on dynalite and on AWS DynamoDB Local.
#include <verrou/drivers/dynamodb.hpp>
#include <verrou/testing/conformance.hpp>

#include "dynamodb_test_support.hpp"

using verrou::conformance::StoreConformance;
using verrou::dynamodb_test::Server;

namespace {

verrou::conformance::StoreHarness harness(Server (*server)()) {
  return {
      .name = server().name,
      .make_store = [server] {
        return std::make_shared<verrou::DynamoDbStore>(verrou::dynamodb_test::options_for(server()));
      },
      .unavailable = [server] { return verrou::dynamodb_test::unavailable(server()); },
      // Each operation is an HTTP round trip (a few ms, more under sanitizers).
      .short_ttl = std::chrono::milliseconds(500),
      .contention_cycles = 100,
      .require_fencing = true,
      .require_semaphores = true,
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Dynalite, StoreConformance,
                         ::testing::Values(harness(&verrou::dynamodb_test::dynalite)),
                         verrou::conformance::harness_name);
INSTANTIATE_TEST_SUITE_P(DynamoDbLocal, StoreConformance,
                         ::testing::Values(harness(&verrou::dynamodb_test::dynamodb_local)),
                         verrou::conformance::harness_name);
