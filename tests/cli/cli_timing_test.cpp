// SPDX-License-Identifier: Apache-2.0
// The verrou command's lease keeping, which depends on timing: automatic extension while the
// command runs, and what happens when the lock is lost. Generous slack; label `timing`.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "cli/cli_process.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"

namespace verrou::cli_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CliLease : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef VERROU_HAS_SQLITE
    GTEST_SKIP() << "the SQLite driver is not built";
#endif
    url_ = dir_.sqlite_url();
  }
  std::unique_ptr<Process> start(std::vector<std::string> args) const {
    std::vector<std::string> all{"run", "--store", url_};
    all.insert(all.end(), args.begin(), args.end());
    return std::make_unique<Process>(dir_, Spawn{.args = all});
  }
  TempDir dir_;
  std::string url_;
};

TEST_F(CliLease, ExtensionKeepsTheLockPastItsTtlWhileTheCommandRuns) {
  // TTL 1 s, command runs 3 s: without extension another process would get the lock after
  // a second. It must not, at any point while the command runs.
  auto run = start({"--key", "k", "--ttl", "1s", "--", "sh", "-c", "echo ready; sleep 3"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  LockFactory other(open_store(url_));
  auto rival = other.create_lock("k", 30s);
  const auto started = Clock::now();
  int tries = 0;
  while (Clock::now() - started < 2500ms && !run->ended()) {
    ASSERT_FALSE(rival.acquire_immediately())
        << "another process took the lock while the command ran, after "
        << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
        << " ms";
    ++tries;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(tries, 10);
  EXPECT_EQ(run->wait(), 0) << run->err();
  EXPECT_EQ(run->err(), "");
  EXPECT_TRUE(rival.acquire_immediately()) << "the lock was not released at the end";
  rival.release();
}

// Exit code of `verrou run` when the lock was lost while the command ran (docs/cli.md).
constexpr int kLost = 77;

TEST_F(CliLease, LostLockIsReportedAtOnceAndKillOnLostStopsTheCommand) {
  auto run = start({"--key", "k", "--ttl", "1s", "--kill-on-lost", "--kill-grace", "5s", "--",
                    "sh", "-c", "echo ready; exec sleep 60"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  const auto released = Clock::now();
  open_store(url_)->force_remove("k");
  // Noticed at the next extension (a third of the TTL), then SIGTERM to the group.
  EXPECT_EQ(run->wait(30s), kLost) << run->err();
  EXPECT_LT(Clock::now() - released, 5s);
  EXPECT_TRUE(contains(run->err(), "Lock lost: key=k")) << run->err();
  EXPECT_TRUE(contains(run->err(), "--kill-on-lost")) << run->err();
  EXPECT_TRUE(contains(run->err(), "exited with 143, verrou exits with 77")) << run->err();
}

TEST_F(CliLease, KillOnLostEscalatesToSigkillAfterTheGrace) {
  auto run = start({"--key", "k", "--ttl", "1s", "--kill-on-lost", "--kill-grace", "500ms",
                    "--", "sh", "-c",
                    "trap 'echo ignoring' TERM; echo ready; while :; do sleep 0.05; done"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  open_store(url_)->force_remove("k");
  EXPECT_EQ(run->wait(30s), kLost) << run->err();
  EXPECT_TRUE(contains(run->out(), "ignoring"));
  EXPECT_TRUE(contains(run->err(), "SIGKILL")) << run->err();
  EXPECT_TRUE(contains(run->err(), "exited with 137")) << run->err();
}

TEST_F(CliLease, LostLockWithoutKillOnLostLetsTheCommandFinishAndExitsWith77) {
  auto run = start({"--key", "k", "--ttl", "1s", "--", "sh", "-c",
                    "echo ready; sleep 2; echo finished; exit 0"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  open_store(url_)->force_remove("k");
  // The command succeeded, but ran unprotected: schedulers must see a failure.
  EXPECT_EQ(run->wait(30s), kLost) << run->err();
  EXPECT_TRUE(contains(run->out(), "finished"));
  EXPECT_TRUE(contains(run->err(), "Lock lost: key=k")) << run->err();
  EXPECT_TRUE(contains(run->err(), "pass --kill-on-lost")) << run->err();
  EXPECT_TRUE(contains(run->err(), "was lost while the command ran")) << run->err();
  EXPECT_TRUE(contains(run->err(), "exited with 0, verrou exits with 77")) << run->err();
}

// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() &&
         (text[close + 2] == 'Z' || text[close + 2] == 'X');
}

// `sh -c 'work & wait'`: killing only the shell would leave `work` running unprotected. The
// whole process group is stopped, even a grandchild that ignores SIGTERM.
TEST_F(CliLease, KillOnLostStopsGrandchildrenToo) {
  const auto pid_file = dir_.path() / "grandchild.pid";
  auto run = start({"--key", "k", "--ttl", "1s", "--kill-on-lost", "--kill-grace", "500ms",
                    "--", "sh", "-c",
                    "trap '' TERM; sleep 60 & echo $! > '" + pid_file.string() +
                        "'; echo ready; wait"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  ASSERT_FALSE(ended(grandchild));
  open_store(url_)->force_remove("k");
  EXPECT_EQ(run->wait(30s), kLost) << run->err();
  // verrou waits until nothing of the group is left before it exits.
  EXPECT_TRUE(ended(grandchild)) << "the grandchild " << grandchild << " still runs";
  if (!ended(grandchild)) ::kill(grandchild, SIGKILL);
}

// Without a loss, nothing of the above: the command's own exit code, and no notice.
TEST_F(CliLease, NoLossNoNotice) {
  auto run = start({"--key", "k", "--ttl", "600ms", "--kill-on-lost", "--", "sh", "-c",
                    "sleep 1.5; exit 3"});
  EXPECT_EQ(run->wait(30s), 3) << run->err();
  EXPECT_EQ(run->err(), "");
}

}  // namespace
}  // namespace verrou::cli_test
