// SPDX-License-Identifier: Apache-2.0
// Signals and the child process of `verrou run`.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "verrou/duration.hpp"

namespace verrou::cli {

/// Takes SIGINT, SIGTERM and SIGHUP (those not ignored when verrou started, so `nohup` and
/// background jobs keep their meaning) and SIGCHLD out of normal delivery, so the main thread
/// collects them with `wait`. Must be made before any thread starts: threads inherit the mask.
/// Thread safety: use from the thread that made it.
class SignalWatcher {
 public:
  SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  // The signals stay blocked: a SIGTERM pending at exit must not kill verrou after it
  // chose its exit code.
  ~SignalWatcher() = default;

  /// Waits up to `timeout` for a watched signal (SIGCHLD included).
  std::optional<siginfo_t> wait(Duration timeout);

  /// Waits up to `timeout` for SIGINT, SIGTERM or SIGHUP, dropping SIGCHLD. Returns the signal.
  std::optional<int> wait_for_termination(Duration timeout);

  /// The signal mask verrou started with, for the child.
  [[nodiscard]] const sigset_t& original_mask() const { return original_; }

  /// Whether `sig` is one of the stop signals verrou forwards.
  static bool is_stop_signal(int sig) { return sig == SIGINT || sig == SIGTERM || sig == SIGHUP; }

 private:
  sigset_t watched_{};
  sigset_t original_{};
};

/// The command `verrou run` starts. Only the thread that made it may poll or signal it, so a
/// signal never reaches a process id that was already reaped and reused.
class Child {
 public:
  /// Starts `argv` (argv[0] searched in $PATH) with `mask` as its signal mask, sharing
  /// verrou's standard streams, environment and process group. Throws CliError:
  /// kExitNotFound when the command does not exist, kExitCannotExecute when it cannot run.
  Child(const std::vector<std::string>& argv, const sigset_t& mask);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() = default;

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// The exit status as a shell reports it (the exit code, or 128 + signal) once the child
  /// has ended; nullopt while it runs. Never blocks.
  std::optional<int> poll();

  /// Sends `sig` to the child, unless it has already been reaped.
  void signal(int sig) noexcept;

  /// Whether the child shares verrou's process group (and so gets the terminal's signals).
  [[nodiscard]] bool in_our_process_group() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace verrou::cli
