// SPDX-License-Identifier: Apache-2.0
// The verrou command's lease keeping, which depends on timing: automatic extension while the
// command runs, and what happens when the lock is lost. Generous slack; label `timing`.
#include <gtest/gtest.h>

#include <chrono>
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

TEST_F(CliLease, LostLockIsReportedAtOnceAndKillOnLostStopsTheCommand) {
  auto run = start({"--key", "k", "--ttl", "1s", "--kill-on-lost", "--kill-grace", "5s", "--",
                    "sh", "-c", "echo ready; exec sleep 60"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  open_store(url_)->force_remove("k");
  // Noticed at the next extension (a third of the TTL), then SIGTERM.
  EXPECT_EQ(run->wait(30s), 128 + SIGTERM) << run->err();
  EXPECT_TRUE(contains(run->err(), "LOST the lock \"k\"")) << run->err();
  EXPECT_TRUE(contains(run->err(), "--kill-on-lost")) << run->err();
}

TEST_F(CliLease, KillOnLostEscalatesToSigkillAfterTheGrace) {
  auto run = start({"--key", "k", "--ttl", "1s", "--kill-on-lost", "--kill-grace", "500ms",
                    "--", "sh", "-c",
                    "trap 'echo ignoring' TERM; echo ready; while :; do sleep 0.05; done"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  open_store(url_)->force_remove("k");
  EXPECT_EQ(run->wait(30s), 128 + SIGKILL) << run->err();
  EXPECT_TRUE(contains(run->out(), "ignoring"));
  EXPECT_TRUE(contains(run->err(), "SIGKILL")) << run->err();
}

TEST_F(CliLease, LostLockWithoutKillOnLostLetsTheCommandFinish) {
  auto run = start({"--key", "k", "--ttl", "1s", "--", "sh", "-c",
                    "echo ready; sleep 2; echo finished; exit 5"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  open_store(url_)->force_remove("k");
  EXPECT_EQ(run->wait(30s), 5) << run->err();
  EXPECT_TRUE(contains(run->out(), "finished"));
  EXPECT_TRUE(contains(run->err(), "LOST the lock")) << run->err();
}

}  // namespace
}  // namespace verrou::cli_test
