// SPDX-License-Identifier: Apache-2.0
#include "process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>

#include "common.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace verrou::cli {

namespace {

// Which of the job-control signals were ignored as verrou started.
sigset_t start_ignored;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
bool start_recorded = false;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

bool ignored_now(int sig) {
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

std::string_view variable_name(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// The environment for the command: verrou's, without the variables `changes` names, then the
// `changes` that set a value ("NAME=value"; a bare "NAME" unsets).
std::vector<std::string> command_environment(const std::vector<std::string>& changes) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool changed = std::any_of(changes.begin(), changes.end(), [&](const std::string& c) {
      return variable_name(c) == variable_name(entry);
    });
    if (!changed) out.emplace_back(entry);
  }
  for (const auto& c : changes) {
    if (c.find('=') != std::string::npos) out.push_back(c);
  }
  return out;
}

// The terminal verrou runs in the foreground of, as a descriptor among 0, 1, 2; -1 if none.
int foreground_terminal() {
  for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (::isatty(fd) == 1 && ::tcgetpgrp(fd) == ::getpgrp()) return fd;
  }
  return -1;
}

// tcsetpgrp from a background group raises SIGTTOU unless it is blocked.
void set_foreground(int fd, pid_t group) noexcept {
  sigset_t ttou;
  sigset_t old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  ::tcsetpgrp(fd, group);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

int status_of(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return info.si_status;
  return 128 + info.si_status;  // killed or dumped
}

}  // namespace

void remember_start_signals() {
  sigemptyset(&start_ignored);
  for (const int sig : {SIGHUP, SIGINT, SIGQUIT}) {
    if (ignored_now(sig)) sigaddset(&start_ignored, sig);
  }
  start_recorded = true;
}

bool ignored_at_start(int sig) {
  if (!start_recorded) return ignored_now(sig);
  return sigismember(&start_ignored, sig) == 1;
}

SignalWatcher::SignalWatcher() {
  // waitpid needs SIGCHLD not to be ignored (an ignored SIGCHLD reaps children on its own).
  ::signal(SIGCHLD, SIG_DFL);  // NOLINT(cert-err33-c)
  sigemptyset(&watched_);
  sigaddset(&watched_, SIGCHLD);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (!ignored_at_start(sig)) sigaddset(&watched_, sig);
  }
  pthread_sigmask(SIG_BLOCK, &watched_, nullptr);
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

void SignalWatcher::wake(pthread_t thread) noexcept {
  // SIGCHLD is watched (blocked) in that thread: it stays pending there until `wait` takes it.
  pthread_kill(thread, SIGCHLD);
}

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // NOLINT
  args.push_back(nullptr);
  const auto env = command_environment(extra_env);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));  // NOLINT
  envp.push_back(nullptr);

  // Every signal back to its default, but the job-control ones the user had ignored; SIGKILL
  // and SIGSTOP cannot be named (posix_spawn would fail). glibc's sigfillset leaves out its two
  // internal signals (32 and 33), and its posix_spawn then sets them to SIG_IGN in the child,
  // which exec keeps: set every bit by hand so that they are reset too.
  sigset_t defaults;
  sigfillset(&defaults);
  std::memset(&defaults, 0xff, sizeof defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  for (const int sig : {SIGHUP, SIGINT, SIGQUIT}) {
    if (ignored_at_start(sig)) sigdelset(&defaults, sig);
  }
  sigset_t empty;
  sigemptyset(&empty);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETSIGDEF |
                                                     POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETPGROUP));
  const int err = ::posix_spawnp(&pid_, args[0], nullptr, &attr, args.data(), envp.data());
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
  terminal_ = foreground_terminal();
  give_terminal();
}

Child::~Child() {
  take_terminal();
  if (status_ && !reaped_) {
    int ignored = 0;
    ::waitpid(pid_, &ignored, WNOHANG);
  }
}

void Child::give_terminal() noexcept {
  if (terminal_ >= 0) set_foreground(terminal_, pid_);
}

void Child::take_terminal() noexcept {
  // Only from the command's group: after `bg` the terminal is the shell's again.
  if (terminal_ >= 0 && ::tcgetpgrp(terminal_) == pid_) set_foreground(terminal_, ::getpgrp());
}

void Child::follow_stop(int sig) noexcept {
  if (sig == SIGTTIN || sig == SIGTTOU) {
    // Stopped for touching the terminal a moment before it became the command's: resume it.
    ::kill(-pid_, SIGCONT);
    return;
  }
  // Ctrl-Z (or SIGSTOP): stop verrou too, so the shell sees the job stopped; `fg` or `bg`
  // continues verrou, which gives the terminal back and continues the command.
  take_terminal();
  ::kill(::getpid(), SIGSTOP);
  if (foreground_terminal() >= 0) give_terminal();  // `fg`; after `bg` it stays ours
  ::kill(-pid_, SIGCONT);
}

std::optional<int> Child::poll() {
  if (status_ || pid_ <= 0) return status_;
  siginfo_t info{};
  // WNOWAIT: the command stays a zombie until verrou is done signalling its group.
  int rc = 0;
  do {
    info = {};
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    // ECHILD: someone else reaped it (cannot happen with SIGCHLD at its default); the exit
    // status is lost, report a generic failure rather than wait forever.
    status_ = kExitSoftware;
    reaped_ = true;
    return status_;
  }
  if (info.si_pid == pid_) {
    status_ = status_of(info);
    take_terminal();
    return status_;
  }
  if (terminal_ >= 0) {
    info = {};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WNOHANG) == 0 &&
        info.si_pid == pid_) {
      follow_stop(info.si_status);
    }
  }
  return std::nullopt;
}

void Child::signal_group(int sig) noexcept {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, sig);
}

bool Child::group_alive() const {
  if (pid_ <= 0 || reaped_) return false;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return ::kill(-pid_, 0) == 0;  // counts the zombie command too
  bool alive = false;
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string text;
    std::getline(stat, text);
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    if (std::sscanf(text.c_str() + close + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pid_ && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(proc);
  return alive;
}

}  // namespace verrou::cli
