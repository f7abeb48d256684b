// SPDX-License-Identifier: Apache-2.0
//
// testing/conformance.hpp: the store conformance suite, for every store including your own.
//
// One GoogleTest suite (`StoreConformance`) checks the behaviour `LockStore` promises. Run it
// against a store by instantiating it with a harness (link `verrou::testing` and GTest):
//
//   #include <verrou/testing/conformance.hpp>
//
//   INSTANTIATE_TEST_SUITE_P(
//       MyStore, StoreConformance,
//       ::testing::Values(verrou::conformance::StoreHarness{
//           .name = "my_store",
//           .make_store = [] { return std::make_shared<MyStore>(); },
//       }),
//       verrou::conformance::harness_name);
//
// (`StoreConformance` is `verrou::conformance::StoreConformance`; write the qualified name or
// `using verrou::conformance::StoreConformance;` first.)
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/store.hpp"
#include "verrou/testing/server.hpp"

namespace verrou::conformance {

/// How to test one store.
struct StoreHarness {
  /// Shown in test names: letters, digits and underscores.
  std::string name{};
  /// Makes the store under test. Called once per test; may return a shared instance.
  std::function<std::shared_ptr<LockStore>()> make_store{};
  /// Called before each test: nullopt when the store can be used, otherwise why not (e.g.
  /// "no PostgreSQL at 127.0.0.1:5432"). Tests then skip, or fail when
  /// `VERROU_REQUIRE_SERVERS=1`. Empty function: always available.
  std::function<std::optional<std::string>()> unavailable{};
  /// Lease for the expiry tests: long enough to outlast a few store round trips. The tests
  /// wait several times this long, so keep it short.
  Duration short_ttl{300};
  /// Acquire/release cycles per thread in the contention test (8 threads on one key).
  std::size_t contention_cycles = 1000;
  /// Prepended to every key the suite uses, to keep runs apart on a shared server.
  std::string key_prefix = "verrou-conformance:";
  /// The store must give fencing tokens (`FencingLockStore`): its checks then fail, rather
  /// than skip, when it does not. Stores that do are checked whatever this says.
  bool require_fencing = false;
  /// The store must have semaphores (`SemaphoreStore`): their checks then fail, rather than
  /// skip, when it does not. Stores that do are checked whatever this says.
  bool require_semaphores = false;
  /// Stores made by separate `make_store` calls see the same locks (a server, a file), as
  /// two processes would. False for a store whose data lives in the object (memory).
  bool stores_share_data = true;
};

/// The suite. Instantiate it with `INSTANTIATE_TEST_SUITE_P` as above. Checks of a
/// capability (fencing tokens, semaphores) run when the store implements it and skip
/// otherwise.
class StoreConformance : public ::testing::TestWithParam<StoreHarness> {
 protected:
  void SetUp() override;

  /// The store under test.
  [[nodiscard]] const std::shared_ptr<LockStore>& store() const { return store_; }
  /// A key no other test (in this or another process) uses.
  [[nodiscard]] std::string key(std::string_view name) const;

 private:
  std::shared_ptr<LockStore> store_;
};

/// Prints a harness as its name in test listings.
void PrintTo(const StoreHarness& harness, std::ostream* out);

/// Test-name generator for `INSTANTIATE_TEST_SUITE_P`: the harness's `name`.
std::string harness_name(const ::testing::TestParamInfo<StoreHarness>& info);

}  // namespace verrou::conformance
