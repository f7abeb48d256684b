// SPDX-License-Identifier: Apache-2.0
// Taking a lock from the command line (with a live waiting line and signals honoured) and
// keeping it alive while a command runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

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
  int signal = 0;                                   ///< interrupted: the signal
  std::chrono::steady_clock::time_point lease_start; ///< acquired: before the winning try
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

/// Extends a held lock every third of its TTL from its own thread while a command runs.
///
/// A lock found lost (LockNotOwnedError, or store failures until the lease ran out) is
/// reported on stderr at once; `lost()` then turns true and extending stops.
/// Thread safety: `lost` may be called from any thread; `stop` from the owning thread.
class KeepAlive {
 public:
  /// Starts the thread; does nothing for a lock without TTL.
  KeepAlive(Lock& lock, const SelectedStore& store,
            std::chrono::steady_clock::time_point lease_start, std::shared_ptr<Logger> logger,
            Verbosity verbosity, std::string on_lost_note);
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;
  ~KeepAlive();

  /// Stops extending (waiting for an extension in flight) and joins the thread.
  void stop();

  [[nodiscard]] bool lost() const { return lost_.load(); }

 private:
  void loop(std::chrono::steady_clock::time_point lease_start);
  void report_lost(const std::string& why);

  Lock& lock_;
  std::string store_shown_;
  std::shared_ptr<Logger> logger_;
  Verbosity verbosity_;
  std::string on_lost_note_;
  std::atomic<bool> lost_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace verrou::cli
