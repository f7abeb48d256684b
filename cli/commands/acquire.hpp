// SPDX-License-Identifier: Apache-2.0
// `verrou acquire`: take a lock and print it, for another process to extend or release.
#pragma once

#include <string>

#include "common.hpp"
#include "holding.hpp"

namespace verrou::cli {

struct AcquireCommandOptions {
  StoreOptions store;
  std::string key;
  std::string ttl = "30s";
  WaitArgs wait;
  OutputOptions output;
};

Command register_acquire(CLI::App& app);

/// Acquires and prints the serialized lock (Verrou's JSON) on stdout.
int run_acquire(const AcquireCommandOptions& options);

}  // namespace verrou::cli
