// SPDX-License-Identifier: Apache-2.0
// Taking a lock from the command line, with a live waiting line and signals honoured.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common.hpp"
#include "process.hpp"
#include "verrou/lock.hpp"

namespace CLI {
class App;
}

namespace verrou::cli {

/// The waiting options as typed: --timeout, --no-wait, --attempts, --delay,
/// --conflict-exit-code.
struct WaitArgs {
  std::string timeout;
  bool no_wait = false;
  std::optional<std::uint64_t> attempts;
  std::string delay = "250ms";
  int conflict_exit_code = kExitNotAcquired;
};

void add_wait_options(CLI::App& app, WaitArgs& args);

/// The waiting options, checked.
struct WaitOptions {
  std::optional<Duration> timeout;          ///< none: wait as long as it takes
  bool no_wait = false;                     ///< one try
  std::optional<std::uint64_t> attempts;    ///< most tries in all
  Duration delay{250};                      ///< pause between tries
};

/// Throws CliError(kExitUsage) for a bad duration or --attempts 0.
WaitOptions parse_wait_args(const WaitArgs& args);

/// What `acquire_lock` did.
struct Acquisition {
  enum class Outcome { acquired, not_acquired, interrupted };
  Outcome outcome = Outcome::not_acquired;
  int signal = 0;             ///< interrupted: the signal
  std::uint64_t attempts = 0;
};

/// Takes `lock` under `options`, drawing the waiting line on a terminal and giving up when a
/// stop signal arrives (a lock taken at that moment is released again). Store failures
/// propagate as LockStorageError.
Acquisition acquire_lock(Lock& lock, const SelectedStore& store, const WaitOptions& options,
                         SignalWatcher& signals, Verbosity verbosity);

/// The message for a lock not acquired: which key, and why verrou gave up.
std::string not_acquired_message(const Lock& lock, const WaitOptions& options,
                                 const Acquisition& result);

}  // namespace verrou::cli
