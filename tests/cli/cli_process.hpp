// SPDX-License-Identifier: Apache-2.0
// Runs the real `verrou` binary for the CLI tests: each run gets its own scratch folder, its
// output goes to files there (read at any time, no pipe to drain), and the environment is
// cleaned so a user's $VERROU_STORE or state folder is never touched.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace verrou::cli_test {

/// Path of the verrou binary under test.
std::string verrou_path();

/// A scratch folder, removed with its content when destroyed.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// `sqlite:///…/name` inside the folder.
  [[nodiscard]] std::string sqlite_url(const std::string& name = "locks.db") const;

 private:
  std::filesystem::path path_;
};

struct Spawn {
  std::vector<std::string> args{};                       ///< after the binary's name
  std::map<std::string, std::optional<std::string>> env{};  ///< nullopt: unset
  std::string stdin_text{};                              ///< fed on standard input
};

/// A running verrou process.
class Process {
 public:
  /// Starts `verrou` with `spawn`; output goes to files in `scratch`. The environment is the
  /// test's with VERROU_STORE unset and XDG_STATE_HOME inside `scratch`, then `spawn.env`.
  Process(const TempDir& scratch, const Spawn& spawn);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();  // kills and reaps a process still running

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::string out() const;
  [[nodiscard]] std::string err() const;

  /// Waits until stdout contains `text`; false after `timeout` or when the process ended.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);

  /// Waits for the end; the exit code (128 + signal when killed). Kills the process and
  /// returns nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /// Whether it has ended (reaps it).
  bool ended();

  void signal(int sig) const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

/// A finished run.
struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

/// Runs verrou to its end (60 s at most).
Result run_verrou(const TempDir& scratch, const Spawn& spawn);

}  // namespace verrou::cli_test
