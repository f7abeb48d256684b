// SPDX-License-Identifier: Apache-2.0
// `verrou force-release`: release a lock whoever holds it.
#pragma once

#include <string>

#include "common.hpp"

namespace verrou::cli {

struct ForceReleaseOptions {
  StoreOptions store;
  std::string key;
  OutputOptions output;
};

Command register_force_release(CLI::App& app);

/// Removes the lock on the key, whoever holds it.
int run_force_release(const ForceReleaseOptions& options);

}  // namespace verrou::cli
