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

/// Notes which of SIGHUP, SIGINT and SIGQUIT are ignored as verrou starts (`nohup`, background
/// jobs of a shell without job control), before any library can change a disposition. Call
/// first thing in main.
void remember_start_signals();

/// Whether `sig` was ignored when verrou started (see `remember_start_signals`).
bool ignored_at_start(int sig);

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

  /// Wakes `wait` in thread `thread` (the one that made the watcher) from any other thread.
  static void wake(pthread_t thread) noexcept;

  /// Whether `sig` is one of the stop signals verrou forwards.
  static bool is_stop_signal(int sig) { return sig == SIGINT || sig == SIGTERM || sig == SIGHUP; }

 private:
  sigset_t watched_{};
};

/// The command `verrou run` starts, in a process group of its own, so that signals reach
/// every process it starts (`sh -c 'work & wait'` included). Only the thread that made it may
/// poll or signal it.
///
/// The command gets default dispositions for every signal (but SIGHUP, SIGINT and SIGQUIT
/// when they were ignored as verrou started) and an empty signal mask, as a command started
/// from a shell: nothing verrou or a client library ignored or blocked leaks into it.
/// When verrou runs in the foreground of a terminal, the command's group becomes the
/// terminal's foreground group while it runs, so it can read the terminal and gets Ctrl-C;
/// Ctrl-Z stops verrou with it and `fg` resumes both.
///
/// The command is reaped only once its group is no longer signalled, so its process id (the
/// group's id) cannot be reused by an unrelated process meanwhile.
class Child {
 public:
  /// Starts `argv` (argv[0] searched in $PATH) with verrou's environment changed by
  /// `extra_env` ("NAME=value" sets, a bare "NAME" unsets) and its standard streams. Throws
  /// CliError: kExitNotFound when the command does not exist, kExitCannotExecute when it
  /// cannot run.
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  /// Gives the terminal back and reaps the command if it has ended.
  ~Child();

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// The exit status as a shell reports it (the exit code, or 128 + signal) once the command
  /// (the group's first process) has ended; nullopt while it runs. Never blocks. Follows
  /// Ctrl-Z (see the class comment) when the command is in the terminal's foreground.
  std::optional<int> poll();

  /// Sends `sig` to every process of the command's group, unless the command was reaped.
  void signal_group(int sig) noexcept;

  /// Whether any process of the command's group is still alive (the command itself, if it
  /// has ended, not counted).
  [[nodiscard]] bool group_alive() const;

 private:
  void give_terminal() noexcept;
  void take_terminal() noexcept;
  void follow_stop(int sig) noexcept;

  pid_t pid_ = -1;
  std::optional<int> status_;
  bool reaped_ = false;
  int terminal_ = -1;  // the terminal handed to the command's group, or -1
};

}  // namespace verrou::cli
