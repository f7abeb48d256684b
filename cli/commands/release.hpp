// SPDX-License-Identifier: Apache-2.0
// `verrou release`: release a lock printed by `verrou acquire`.
#pragma once

#include <string>

#include "common.hpp"

namespace verrou::cli {

struct ReleaseOptions {
  StoreOptions store;
  std::string lock;  ///< the JSON, or "-" for stdin
  OutputOptions output;
};

Command register_release(CLI::App& app);

/// Releases the lock; kExitNotOwned when this owner no longer holds it.
int run_release(const ReleaseOptions& options);

}  // namespace verrou::cli
