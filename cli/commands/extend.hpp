// SPDX-License-Identifier: Apache-2.0
// `verrou extend`: push out the lease of a lock printed by `verrou acquire`.
#pragma once

#include <string>

#include "common.hpp"

namespace verrou::cli {

struct ExtendOptions {
  StoreOptions store;
  std::string lock;  ///< the JSON, or "-" for stdin
  std::string ttl;   ///< empty: the lock's own TTL
  OutputOptions output;
};

Command register_extend(CLI::App& app);

/// Extends the lock and prints it again with its new expiration time.
int run_extend(const ExtendOptions& options);

}  // namespace verrou::cli
