// SPDX-License-Identifier: Apache-2.0
// `verrou status`: whether a key is locked, or how many permits of a semaphore are held.
#pragma once

#include <optional>
#include <string>

#include "common.hpp"

namespace verrou::cli {

struct StatusOptions {
  StoreOptions store;
  std::string key;
  std::optional<std::string> limit;  ///< set: the key names a semaphore of this many permits
  OutputOptions output;
};

Command register_status(CLI::App& app);

/// Prints "locked" or "free"; with a limit, "H of N permits held".
int run_status(const StatusOptions& options);

}  // namespace verrou::cli
