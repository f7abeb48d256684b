// SPDX-License-Identifier: Apache-2.0
// `verrou run`: run a command while holding a lock (or, with --limit, a permit of a
// semaphore), extending it until the command ends.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "holding.hpp"

namespace verrou::cli {

struct RunOptions {
  StoreOptions store;
  std::string key;
  std::optional<std::string> limit;  ///< unset: a lock; else the permits of a semaphore
  std::string ttl = "30s";
  WaitArgs wait;
  bool kill_on_lost = false;
  std::string kill_grace = "10s";
  OutputOptions output;
  std::vector<std::string> command;
};

Command register_run(CLI::App& app);

/// Acquires, runs the command, extends the lease every third of the TTL, releases. Returns
/// the command's exit status (128 + signal when a signal ended it).
int run_run(const RunOptions& options);

}  // namespace verrou::cli
