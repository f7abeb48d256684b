// SPDX-License-Identifier: Apache-2.0
#include "process.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "common.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace verrou::cli {

namespace {

bool ignored_at_start(int sig) {
  struct sigaction current {};
  return ::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;  // NOLINT
}

timespec to_timespec(Duration d) {
  const auto ms = std::max<Duration::rep>(d.count(), 0);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ms / 1000);
  ts.tv_nsec = static_cast<long>((ms % 1000) * 1'000'000);
  return ts;
}

}  // namespace

SignalWatcher::SignalWatcher() {
  // waitpid needs SIGCHLD not to be ignored (an ignored SIGCHLD reaps children on its own).
  ::signal(SIGCHLD, SIG_DFL);  // NOLINT(cert-err33-c)
  sigemptyset(&watched_);
  sigaddset(&watched_, SIGCHLD);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (!ignored_at_start(sig)) sigaddset(&watched_, sig);
  }
  pthread_sigmask(SIG_BLOCK, &watched_, &original_);
}

std::optional<siginfo_t> SignalWatcher::wait(Duration timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<Duration>(until - std::chrono::steady_clock::now());
    const timespec ts = to_timespec(left);
    siginfo_t info{};
    const int sig = ::sigtimedwait(&watched_, &info, &ts);
    if (sig > 0) return info;
    if (errno == EINTR && left.count() > 0) continue;
    return std::nullopt;
  }
}

std::optional<int> SignalWatcher::wait_for_termination(Duration timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<Duration>(until - std::chrono::steady_clock::now());
    auto info = wait(std::max(left, Duration::zero()));
    if (!info) return std::nullopt;
    if (is_stop_signal(info->si_signo)) return info->si_signo;
    if (left.count() <= 0) return std::nullopt;
  }
}

Child::Child(const std::vector<std::string>& argv, const sigset_t& mask) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // NOLINT
  args.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const int err = ::posix_spawnp(&pid_, args[0], nullptr, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    pid_ = -1;
    if (err == ENOENT || err == ENOTDIR) {
      throw CliError(kExitNotFound, "cannot run " + in_quotes(argv[0]) + ": command not found" +
                                        (argv[0].find('/') == std::string::npos
                                             ? " in $PATH"
                                             : ""));
    }
    throw CliError(kExitCannotExecute,
                   "cannot run " + in_quotes(argv[0]) + ": " + std::strerror(err));
  }
}

std::optional<int> Child::poll() {
  if (status_ || pid_ <= 0) return status_;
  int raw = 0;
  pid_t got = 0;
  do {
    got = ::waitpid(pid_, &raw, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == pid_) {
    if (WIFEXITED(raw)) {
      status_ = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
      status_ = 128 + WTERMSIG(raw);
    }
  } else if (got < 0) {
    // ECHILD: someone else reaped it (cannot happen with SIGCHLD at its default); the exit
    // status is lost, report a generic failure rather than wait forever.
    status_ = kExitSoftware;
  }
  return status_;
}

void Child::signal(int sig) noexcept {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

bool Child::in_our_process_group() const { return pid_ > 0 && ::getpgid(pid_) == ::getpgrp(); }

}  // namespace verrou::cli
