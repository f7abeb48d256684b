// SPDX-License-Identifier: Apache-2.0
#include "cli_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace verrou::cli_test {

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int decode(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

std::atomic<int> process_counter{0};

}  // namespace

std::string verrou_path() {
  if (const char* from_env = std::getenv("VERROU_CLI")) return from_env;
#ifdef VERROU_CLI_PATH
  return VERROU_CLI_PATH;
#else
  throw std::runtime_error("set VERROU_CLI to the verrou binary");
#endif
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/verrou-cli-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::sqlite_url(const std::string& name) const {
  return "sqlite://" + (path_ / name).string();
}

Process::Process(const TempDir& scratch, const Spawn& spawn) {
  const int n = ++process_counter;
  out_path_ = scratch.path() / ("out-" + std::to_string(n) + ".txt");
  err_path_ = scratch.path() / ("err-" + std::to_string(n) + ".txt");
  const auto in_path = scratch.path() / ("in-" + std::to_string(n) + ".txt");
  std::ofstream(in_path, std::ios::binary) << spawn.stdin_text;

  std::map<std::string, std::optional<std::string>> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  env["VERROU_STORE"] = std::nullopt;
  env["XDG_STATE_HOME"] = (scratch.path() / "state").string();
  for (const auto& [name, value] : spawn.env) env[name] = value;
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : env) {
    if (value) env_strings.push_back(name + "=" + *value);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{verrou_path()};
  argv_strings.insert(argv_strings.end(), spawn.args.begin(), spawn.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDIN_FILENO, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, out_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&files, STDERR_FILENO, err_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // verrou honours ignored signals (as nohup wants); start it with the usual dispositions
  // whatever the test runner set, and in its own process group, as a shell job would be.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE}) {
    sigaddset(&defaults, sig);
  }
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETPGROUP);
  const int err = ::posix_spawn(&pid_, argv[0], &files, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  if (err != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv_strings[0] + ": " + std::strerror(err));
  }
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(-pid_, SIGKILL);  // its process group: verrou and the command it runs
    int raw = 0;
    ::waitpid(pid_, &raw, 0);
  }
}

std::string Process::out() const { return read_file(out_path_); }
std::string Process::err() const { return read_file(err_path_); }

bool Process::ended() {
  if (status_) return true;
  int raw = 0;
  const pid_t got = ::waitpid(pid_, &raw, WNOHANG);
  if (got == pid_) {
    status_ = decode(raw);
    return true;
  }
  return false;
}

bool Process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (out().find(text) != std::string::npos) return true;
    if (ended()) return out().find(text) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ended()) {
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(-pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
      status_ = -1;
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

void Process::signal(int sig) const {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

Result run_verrou(const TempDir& scratch, const Spawn& spawn) {
  Process process(scratch, spawn);
  Result result;
  result.code = process.wait().value_or(-1);
  result.out = process.out();
  result.err = process.err();
  return result;
}

}  // namespace verrou::cli_test
