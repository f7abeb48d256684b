// SPDX-License-Identifier: Apache-2.0
// `verrou status`: whether a key is locked.
#pragma once

#include <string>

#include "common.hpp"

namespace verrou::cli {

struct StatusOptions {
  StoreOptions store;
  std::string key;
  OutputOptions output;
};

Command register_status(CLI::App& app);

/// Prints "locked" or "free".
int run_status(const StatusOptions& options);

}  // namespace verrou::cli
