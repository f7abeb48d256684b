// SPDX-License-Identifier: Apache-2.0
// `verrou list`: the locks held now, with owner, time left and fencing token.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "common.hpp"

namespace verrou::cli {

struct ListOptions {
  StoreOptions store;
  std::string prefix;                ///< only keys starting with it; empty: all
  std::optional<std::size_t> limit;  ///< at most this many; unset: all
  bool json = false;                 ///< JSON lines instead of a table
  OutputOptions output;
};

Command register_list(CLI::App& app);

/// Prints the locks held: a table (a header line, then one line per lock) or, with --json,
/// one JSON object per line. Exit code kExitCannotList for a store that cannot enumerate.
int run_list(const ListOptions& options);

}  // namespace verrou::cli
