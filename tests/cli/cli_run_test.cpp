// SPDX-License-Identifier: Apache-2.0
// What `verrou run` gives the command it starts: a process group of its own, the lock's key
// and fencing token in its environment, and the signal state of a command started from a
// shell (no ignored or blocked signal inherited from verrou or a client library); and the
// token in `verrou acquire`'s JSON.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/cli_process.hpp"
#include "verrou/open_store.hpp"
#include "verrou/serialized_lock.hpp"

namespace verrou::cli_test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

bool servers_required() {
  const char* value = std::getenv("VERROU_REQUIRE_SERVERS");
  return value != nullptr && std::string(value) == "1";
}

// The "SigIgn:" and "SigBlk:" lines of the command's /proc/self/status.
void expect_clean_signal_state(const Result& r) {
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "SigIgn:\t0000000000000000\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "SigBlk:\t0000000000000000\n")) << r.out;
}

TEST(CliRun, CommandStartsWithDefaultSignalsAndAnEmptyMask) {
  TempDir dir;
  expect_clean_signal_state(run_verrou(
      dir, {.args = {"run", "--store", "memory:", "--key", "k", "--", "grep", "-E",
                     "SigIgn|SigBlk", "/proc/self/status"}}));
#ifdef VERROU_HAS_SQLITE
  expect_clean_signal_state(run_verrou(
      dir, {.args = {"run", "--store", dir.sqlite_url(), "--key", "k", "--", "grep", "-E",
                     "SigIgn|SigBlk", "/proc/self/status"}}));
#endif
}

// The MariaDB client library ignores SIGPIPE when it starts: the command must not inherit it.
TEST(CliRun, CommandStartsWithDefaultSignalsOnTheMysqlStore) {
#ifndef VERROU_HAS_MYSQL
  GTEST_SKIP() << "the MySQL driver is not built";
#else
  const auto url = env_or("VERROU_MYSQL_URL", "mysql://verrou:verrou@127.0.0.1:3306/verrou");
  try {
    (void)open_store(url)->exists("verrou-cli-probe");
  } catch (const std::exception& e) {
    if (servers_required()) FAIL() << "MariaDB unreachable (VERROU_REQUIRE_SERVERS=1): " << e.what();
    GTEST_SKIP() << "MariaDB unreachable: " << e.what();
  }
  TempDir dir;
  const std::string key = "cli-signals-" + std::to_string(::getpid());
  expect_clean_signal_state(run_verrou(
      dir, {.args = {"run", "--store", url, "--key", key, "--", "grep", "-E", "SigIgn|SigBlk",
                     "/proc/self/status"}}));
#endif
}

// A signal ignored when verrou started (nohup) stays ignored for the command; the others are
// reset.
TEST(CliRun, HangupIgnoredAtStartStaysIgnoredForTheCommand) {
  const std::string command = "trap '' HUP; exec '" + verrou_path() +
                              "' run --store memory: --key k -- grep SigIgn /proc/self/status";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[256] = {};
  std::string out;
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  EXPECT_EQ(::pclose(pipe), 0) << out;
  ASSERT_TRUE(contains(out, "SigIgn:\t")) << out;
  const auto mask = std::stoull(out.substr(out.find('\t') + 1), nullptr, 16);
  EXPECT_EQ(mask & 1U, 1U) << "SIGHUP (1) not ignored: " << out;
  EXPECT_EQ(mask & (1ULL << (SIGPIPE - 1)), 0U) << out;
  EXPECT_EQ(mask & (3ULL << 31), 0U) << "glibc's internal signals left ignored: " << out;
}

TEST(CliRun, CommandRunsInAProcessGroupOfItsOwn) {
  TempDir dir;
  Process run(dir, {.args = {"run", "--store", "memory:", "--key", "k", "--", "sh", "-c",
                             "echo pid=$$ pgid=$(ps -o pgid= -p $$ | tr -d ' ')"}});
  ASSERT_EQ(run.wait(), 0) << run.err();
  const auto out = run.out();
  const auto pid = out.substr(out.find("pid=") + 4, out.find(' ') - 4);
  const auto pgid = out.substr(out.find("pgid=") + 5);
  EXPECT_EQ(std::stol(pid), std::stol(pgid)) << "the command does not lead its own group: " << out;
  EXPECT_NE(std::stol(pgid), static_cast<long>(::getpgid(run.pid()))) << out;
}

// Reads the terminal's output until it holds `text`; false after `timeout`.
bool read_until(int master, std::string& seen, const std::string& text,
                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!contains(seen, text)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[256];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) return false;
    seen.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// In the foreground of a terminal, the command's own process group gets the terminal: it can
// read it (instead of being stopped by SIGTTIN) and Ctrl-C reaches it.
TEST(CliRun, InATerminalTheCommandReadsItAndGetsCtrlC) {
  int master = -1;
  const std::string verrou = verrou_path();
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0) << "forkpty failed";
  if (pid == 0) {
    ::execl(verrou.c_str(), "verrou", "run", "--store", "memory:", "--key", "k", "--", "sh",
            "-c", "read x; echo got=$x; exec sleep 30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string seen;
  EXPECT_EQ(::write(master, "hello\n", 6), 6);
  const bool got = read_until(master, seen, "got=hello", std::chrono::seconds(10));
  EXPECT_TRUE(got) << "the command could not read the terminal: " << seen;
  EXPECT_EQ(::write(master, "\x03", 1), 1);  // Ctrl-C
  int status = 0;
  pid_t ended = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((ended = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::string ignored;  // keep the terminal drained
    if (!read_until(master, ignored, "\x01", std::chrono::milliseconds(50))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (ended == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "Ctrl-C did not end the command: " << seen;
  } else {
    EXPECT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT) << seen;
  }
  ::close(master);
}

TEST(CliRun, CommandFindsTheKeyAndTheFencingToken) {
  TempDir dir;
  // The memory store gives tokens; a stale token in verrou's own environment is replaced.
  const auto r = run_verrou(
      dir, {.args = {"run", "--store", "memory:", "--key", "deploy:prod", "--", "sh", "-c",
                     "echo \"key=$VERROU_LOCK_KEY token=${VERROU_FENCING_TOKEN-unset}\""},
            .env = {{"VERROU_FENCING_TOKEN", "999"}, {"VERROU_LOCK_KEY", "other"}}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "key=deploy:prod token=1\n");
}

TEST(CliRun, StoreWithoutTokensLeavesNoTokenInTheEnvironment) {
#ifndef VERROU_HAS_SQLITE
  GTEST_SKIP() << "the SQLite driver is not built";
#else
  TempDir dir;
  const auto url = dir.sqlite_url();
  const auto store = open_store(url);
  const auto* fencing = dynamic_cast<const FencingLockStore*>(store.get());
  const bool gives_tokens = fencing != nullptr && fencing->gives_fencing_tokens();
  const auto r = run_verrou(
      dir, {.args = {"run", "--store", url, "--key", "k", "--", "sh", "-c",
                     "echo \"token=${VERROU_FENCING_TOKEN-unset}\""},
            .env = {{"VERROU_FENCING_TOKEN", "999"}}});
  EXPECT_EQ(r.code, 0) << r.err;
  if (gives_tokens) {
    EXPECT_NE(r.out, "token=999\n");
    EXPECT_NE(r.out, "token=unset\n");
  } else {
    EXPECT_EQ(r.out, "token=unset\n");
  }
#endif
}

TEST(CliRun, AcquirePrintsTheFencingToken) {
  TempDir dir;
  const auto r = run_verrou(dir, {.args = {"acquire", "--store", "memory:", "--key", "k"}});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lock = SerializedLock::from_json(r.out);
  ASSERT_TRUE(lock.fencing_token) << r.out;
  EXPECT_EQ(*lock.fencing_token, 1U);
  EXPECT_TRUE(contains(r.out, "\"fencingToken\":1")) << r.out;
}

}  // namespace
}  // namespace verrou::cli_test
