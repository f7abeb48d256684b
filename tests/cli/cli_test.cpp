// SPDX-License-Identifier: Apache-2.0
// The verrou command, run as a real process against SQLite files: exit codes, signals,
// hand-off between processes, store selection and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ostream>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_process.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"
#include "verrou/serialized_lock.hpp"

namespace verrou::cli_test {
namespace {

using namespace std::chrono_literals;

// Exit codes of the command (docs/cli.md).
constexpr int kUsage = 64;
constexpr int kDataError = 65;
constexpr int kUnavailable = 69;
constexpr int kNotAcquired = 75;
constexpr int kNotOwned = 77;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef VERROU_HAS_SQLITE
    GTEST_SKIP() << "the SQLite driver is not built: the CLI tests share locks between "
                    "processes through SQLite files";
#endif
    url_ = dir_.sqlite_url();
  }

  // verrou VERB --store <the test's SQLite file> ARGS...
  [[nodiscard]] std::vector<std::string> cmd(const std::string& verb,
                                             std::vector<std::string> args) const {
    std::vector<std::string> all{verb, "--store", url_};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  Result verrou(const std::string& verb, std::vector<std::string> args,
                std::string stdin_text = {}) const {
    return run_verrou(dir_, {.args = cmd(verb, std::move(args)), .stdin_text = stdin_text});
  }

  std::unique_ptr<Process> start(const std::string& verb, std::vector<std::string> args) const {
    return std::make_unique<Process>(dir_, Spawn{.args = cmd(verb, std::move(args))});
  }

  // The same store, through the library, as another process would see it.
  [[nodiscard]] LockFactory locks() const { return LockFactory(open_store(url_)); }
  [[nodiscard]] bool held(const std::string& key) const { return open_store(url_)->exists(key); }
  [[nodiscard]] std::filesystem::path marker() const { return dir_.path() / "marker"; }

  TempDir dir_;
  std::string url_;
};

TEST_F(Cli, PassesOnTheCommandsExitCode) {
  EXPECT_EQ(verrou("run", {"--key", "k", "--", "true"}).code, 0);
  EXPECT_EQ(verrou("run", {"--key", "k", "--", "sh", "-c", "exit 7"}).code, 7);
  EXPECT_EQ(verrou("run", {"--key", "k", "--", "sh", "-c", "exit 125"}).code, 125);
  EXPECT_FALSE(held("k"));
}

TEST_F(Cli, CommandKilledBySignalGives128PlusTheSignal) {
  EXPECT_EQ(verrou("run", {"--key", "k", "--", "sh", "-c", "kill -KILL $$"}).code, 128 + 9);
  EXPECT_EQ(verrou("run", {"--key", "k", "--", "sh", "-c", "kill -TERM $$"}).code, 128 + 15);
  EXPECT_FALSE(held("k"));
}

TEST_F(Cli, RunsTheCommandWithItsArgumentsAndStreamsUnderTheLock) {
  // The command sees the lock held (asked through verrou itself) and gets its arguments
  // and standard input untouched; the lock is free once it ended.
  const auto r = verrou("run", {"--key", "k", "--", "sh", "-c",
                                "\"$0\" status --store \"$1\" --key k; echo \"$2\"; cat",
                                verrou_path(), url_, "an argument with  spaces -x --y"},
                        "from stdin\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "locked\nan argument with  spaces -x --y\nfrom stdin\n");
  EXPECT_FALSE(held("k"));
  const auto status = verrou("status", {"--key", "k"});
  EXPECT_EQ(status.out, "free\n");
}

TEST_F(Cli, CommandThatCannotRunGives127Or126AndReleases) {
  const auto missing = verrou("run", {"--key", "k", "--", "verrou-no-such-command-x"});
  EXPECT_EQ(missing.code, 127);
  EXPECT_TRUE(contains(missing.err, "verrou-no-such-command-x")) << missing.err;
  EXPECT_TRUE(contains(missing.err, "not found")) << missing.err;

  const auto not_executable = dir_.path() / "script.sh";
  { std::ofstream(not_executable) << "#!/bin/sh\necho hi\n"; }
  std::filesystem::permissions(not_executable, std::filesystem::perms::owner_read);
  const auto denied = verrou("run", {"--key", "k", "--", not_executable.string()});
  EXPECT_EQ(denied.code, 126) << denied.err;
  EXPECT_FALSE(held("k"));
}

TEST_F(Cli, NoWaitOnAHeldLockGivesTheConflictExitCode) {
  auto holder = locks().create_lock("k", 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  const std::string touch = "touch '" + marker().string() + "'";

  const auto r = verrou("run", {"--key", "k", "--no-wait", "--", "sh", "-c", touch});
  EXPECT_EQ(r.code, kNotAcquired);
  EXPECT_TRUE(contains(r.err, "held by someone else")) << r.err;
  EXPECT_TRUE(contains(r.err, "\"k\"")) << r.err;

  const auto custom = verrou(
      "run", {"--key", "k", "--no-wait", "--conflict-exit-code", "3", "--", "sh", "-c", touch});
  EXPECT_EQ(custom.code, 3);

  const auto quiet = verrou("run", {"--key", "k", "-n", "--quiet", "--", "sh", "-c", touch});
  EXPECT_EQ(quiet.code, kNotAcquired);
  EXPECT_EQ(quiet.err, "");

  const auto timed = verrou("run", {"--key", "k", "--timeout", "300ms", "--", "sh", "-c", touch});
  EXPECT_EQ(timed.code, kNotAcquired);
  EXPECT_TRUE(contains(timed.err, "--timeout")) << timed.err;

  const auto attempts = verrou(
      "run", {"--key", "k", "--attempts", "2", "--delay", "50ms", "--", "sh", "-c", touch});
  EXPECT_EQ(attempts.code, kNotAcquired);
  EXPECT_TRUE(contains(attempts.err, "2 attempts")) << attempts.err;

  EXPECT_FALSE(std::filesystem::exists(marker())) << "the command ran without the lock";
  holder.release();  // still ours: verrou did not touch it
}

TEST_F(Cli, WaitsForTheHolderThenRuns) {
  auto holder = locks().create_lock("k", 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  auto waiter = start("run", {"--key", "k", "--timeout", "30s", "--delay", "50ms", "--", "sh",
                              "-c", "touch '" + marker().string() + "'"});
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(waiter->ended()) << waiter->err();
  EXPECT_FALSE(std::filesystem::exists(marker())) << "the command ran while the lock was held";
  holder.release();
  EXPECT_EQ(waiter->wait(), 0) << waiter->err();
  EXPECT_TRUE(std::filesystem::exists(marker()));
  EXPECT_FALSE(held("k"));
}

TEST_F(Cli, StopSignalsAreForwardedAndTheLockReleasedAfterTheCommandEnds) {
  // The command traps the signal and takes its time to clean up: the lock must stay held
  // until it has ended, then be released, and its exit code passed on.
  for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
    SCOPED_TRACE("signal " + std::to_string(sig));
    auto run = start("run", {"--key", "k", "--", "sh", "-c",
                             "trap 'echo got-signal; sleep 0.3; echo cleaned; exit 3' " +
                                 std::to_string(sig) +
                                 "; echo ready; while :; do sleep 0.05; done"});
    ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
    EXPECT_TRUE(held("k"));
    run->signal(sig);
    ASSERT_TRUE(run->wait_for_output("got-signal", 20s)) << run->err();
    EXPECT_EQ(run->wait(), 3) << run->err();
    EXPECT_TRUE(contains(run->out(), "cleaned"));
    EXPECT_FALSE(held("k"));
  }
}

TEST_F(Cli, CommandEndedBySignalForwardedGives128PlusSignal) {
  auto run = start("run", {"--key", "k", "--", "sh", "-c", "echo ready; exec sleep 60"});
  ASSERT_TRUE(run->wait_for_output("ready", 20s)) << run->err();
  run->signal(SIGTERM);
  EXPECT_EQ(run->wait(), 128 + SIGTERM) << run->err();
  EXPECT_FALSE(held("k"));
}

TEST_F(Cli, SignalWhileWaitingStopsWithoutRunningTheCommand) {
  auto holder = locks().create_lock("k", 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  auto waiter = start("run", {"--key", "k", "--", "sh", "-c", "touch '" + marker().string() + "'"});
  std::this_thread::sleep_for(400ms);
  waiter->signal(SIGTERM);
  EXPECT_EQ(waiter->wait(), 128 + SIGTERM) << waiter->err();
  EXPECT_FALSE(std::filesystem::exists(marker()));
  EXPECT_NO_THROW(holder.release());  // the holder's lock was left alone
}

TEST_F(Cli, HandOffBetweenProcessesWithAcquireExtendAndRelease) {
  const auto acquired = verrou("acquire", {"--key", "deploy", "--ttl", "30s"});
  ASSERT_EQ(acquired.code, 0) << acquired.err;
  const auto lock = SerializedLock::from_json(acquired.out);
  EXPECT_EQ(lock.key, "deploy");
  EXPECT_EQ(lock.ttl, Duration(30'000));
  ASSERT_TRUE(lock.expiration_time.has_value());
  EXPECT_TRUE(held("deploy"));

  // Another process cannot take it.
  EXPECT_EQ(verrou("acquire", {"--key", "deploy", "--no-wait"}).code, kNotAcquired);

  const auto extended = verrou("extend", {"--lock", acquired.out, "--ttl", "10m"});
  ASSERT_EQ(extended.code, 0) << extended.err;
  const auto after = SerializedLock::from_json(extended.out);
  EXPECT_EQ(after.owner, lock.owner);
  ASSERT_TRUE(after.expiration_time.has_value());
  EXPECT_GT(*after.expiration_time, *lock.expiration_time + 60'000);

  // Released by yet another process, reading the lock from stdin.
  const auto released = verrou("release", {"--lock", "-"}, extended.out);
  EXPECT_EQ(released.code, 0) << released.err;
  EXPECT_FALSE(held("deploy"));

  const auto again = verrou("release", {"--lock", acquired.out});
  EXPECT_EQ(again.code, kNotOwned);
  EXPECT_TRUE(contains(again.err, "deploy")) << again.err;
  EXPECT_EQ(verrou("extend", {"--lock", acquired.out}).code, kNotOwned);
}

TEST_F(Cli, AcquiredLockCanBeReleasedThroughTheLibrary) {
  const auto acquired = verrou("acquire", {"--key", "k"});
  ASSERT_EQ(acquired.code, 0) << acquired.err;
  auto lock = locks().restore_lock(SerializedLock::from_json(acquired.out));
  EXPECT_NO_THROW(lock.release());
  EXPECT_FALSE(held("k"));
}

TEST_F(Cli, StatusAndForceRelease) {
  EXPECT_EQ(verrou("status", {"--key", "k"}).out, "free\n");
  auto holder = locks().create_lock("k", 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  const auto locked = verrou("status", {"--key", "k"});
  EXPECT_EQ(locked.code, 0);
  EXPECT_EQ(locked.out, "locked\n");
  EXPECT_EQ(verrou("force-release", {"--key", "k"}).code, 0);
  EXPECT_EQ(verrou("status", {"--key", "k"}).out, "free\n");
  EXPECT_THROW(holder.release(), LockNotOwnedError);
}

TEST_F(Cli, VerboseLogsThroughTheLibraryLogger) {
  const auto r = verrou("run", {"--key", "k", "--verbose", "--", "true"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.err, "Lock acquired")) << r.err;
  EXPECT_TRUE(contains(r.err, "Lock released")) << r.err;
  const auto quiet = verrou("run", {"--key", "k", "--quiet", "--", "true"});
  EXPECT_EQ(quiet.err, "");
}

TEST_F(Cli, StoreFromTheEnvironmentWhenNoOption) {
  auto holder = locks().create_lock("k", 30s);
  ASSERT_TRUE(holder.acquire_immediately());
  const auto r = run_verrou(dir_, {.args = {"status", "--key", "k"}, .env = {{"VERROU_STORE", url_}}});
  EXPECT_EQ(r.out, "locked\n") << r.err;
  // --store wins over the environment.
  const auto other = run_verrou(dir_, {.args = {"status", "--store", dir_.sqlite_url("other.db"),
                                                "--key", "k"},
                                       .env = {{"VERROU_STORE", url_}}});
  EXPECT_EQ(other.out, "free\n") << other.err;
}

TEST_F(Cli, DefaultStoreIsAnSqliteFileInTheStateFolder) {
  const auto state = dir_.path() / "xdg-state";
  const auto file = state / "verrou" / "locks.db";
  const auto r = run_verrou(dir_, {.args = {"acquire", "--key", "k"},
                                   .env = {{"XDG_STATE_HOME", state.string()}}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_TRUE(open_store("sqlite://" + file.string())->exists("k"));

  // Without $XDG_STATE_HOME: ~/.local/state.
  const auto home = dir_.path() / "home";
  const auto in_home = run_verrou(dir_, {.args = {"run", "--key", "k", "--", "true"},
                                         .env = {{"XDG_STATE_HOME", std::nullopt},
                                                 {"HOME", home.string()}}});
  ASSERT_EQ(in_home.code, 0) << in_home.err;
  EXPECT_TRUE(std::filesystem::exists(home / ".local" / "state" / "verrou" / "locks.db"));
}

TEST_F(Cli, UnreachableStoreNamesItsUrl) {
  const auto r = run_verrou(dir_, {.args = {"status", "--key", "k", "--store",
                                            "sqlite:///verrou-no-such-folder/x/locks.db"}});
  EXPECT_EQ(r.code, kUnavailable);
  EXPECT_TRUE(contains(r.err, "/verrou-no-such-folder/x/locks.db")) << r.err;

  // A password in the URL never shows: whether or not the Redis driver is built in.
  const auto redis = run_verrou(
      dir_, {.args = {"status", "--store", "redis://:hunter2@127.0.0.1:1", "--key", "k"}});
  EXPECT_FALSE(contains(redis.err, "hunter2")) << redis.err;
  const auto schemes = supported_schemes();
  if (std::find(schemes.begin(), schemes.end(), "redis") != schemes.end()) {
    EXPECT_EQ(redis.code, kUnavailable) << redis.err;
    EXPECT_TRUE(contains(redis.err, "127.0.0.1:1")) << redis.err;
  } else {
    EXPECT_EQ(redis.code, kUsage) << redis.err;
    EXPECT_TRUE(contains(redis.err, "redis")) << redis.err;
  }
}

struct BadInput {
  std::string name;
  std::vector<std::string> args;
  int code;
  std::string says;  // part of the message
};

// Test names show the case's name, not its bytes.
void PrintTo(const BadInput& input, std::ostream* out) { *out << input.name; }

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, FailsWithTheDocumentedCodeAndSaysWhatIsWrong) {
  TempDir dir;
  const auto& input = GetParam();
  const auto r = run_verrou(dir, {.args = input.args});
  EXPECT_EQ(r.code, input.code) << r.err;
  EXPECT_TRUE(contains(r.err, input.says)) << r.err;
  EXPECT_EQ(r.out, "");
}

const std::string kValidLock =
    R"({"key":"k","owner":"0123456789abcdef0123456789abcdef","ttl":null,"expirationTime":null})";

INSTANTIATE_TEST_SUITE_P(
    Cli, CliBadInput,
    ::testing::Values(
        BadInput{"bad_ttl", {"run", "--store", "memory:", "--key", "k", "--ttl", "abc", "--", "true"}, kUsage, "--ttl"},
        BadInput{"zero_ttl", {"run", "--store", "memory:", "--key", "k", "--ttl", "0", "--", "true"}, kUsage, "--ttl"},
        BadInput{"bad_timeout", {"run", "--store", "memory:", "--key", "k", "--timeout", "5 parsecs", "--", "true"}, kUsage, "--timeout"},
        BadInput{"bad_delay", {"acquire", "--store", "memory:", "--key", "k", "--delay", "-1s"}, kUsage, "--delay"},
        BadInput{"zero_attempts", {"run", "--store", "memory:", "--key", "k", "--attempts", "0", "--", "true"}, kUsage, "--attempts"},
        BadInput{"no_wait_and_timeout", {"run", "--store", "memory:", "--key", "k", "-n", "-t", "1s", "--", "true"}, kUsage, "--no-wait"},
        BadInput{"conflict_code_range", {"run", "--store", "memory:", "--key", "k", "--conflict-exit-code", "300", "--", "true"}, kUsage, "conflict-exit-code"},
        BadInput{"unknown_scheme", {"run", "--store", "bogus://x", "--key", "k", "--", "true"}, kUsage, "bogus"},
        BadInput{"malformed_url", {"status", "--store", "sqlite://relative.db", "--key", "k"}, kUsage, "sqlite:///"},
        BadInput{"unknown_url_option", {"status", "--store", "sqlite:///tmp/x.db?colour=red", "--key", "k"}, kUsage, "colour"},
        BadInput{"missing_command", {"run", "--store", "memory:", "--key", "k"}, kUsage, "no command"},
        BadInput{"command_without_dashes", {"run", "--store", "memory:", "--key", "k", "ls", "-l"}, kUsage, "--"},
        BadInput{"missing_key", {"run", "--store", "memory:", "--", "true"}, kUsage, "--key"},
        BadInput{"empty_key", {"status", "--store", "memory:", "--key", ""}, kUsage, "key"},
        BadInput{"no_verb", {}, kUsage, "subcommand"},
        BadInput{"unknown_verb", {"frobnicate"}, kUsage, "frobnicate"},
        BadInput{"lock_not_json", {"release", "--store", "memory:", "--lock", "nonsense"}, kDataError, "--lock"},
        BadInput{"lock_without_owner", {"release", "--store", "memory:", "--lock", R"({"key":"k"})"}, kDataError, "owner"},
        BadInput{"empty_lock_on_stdin", {"release", "--store", "memory:", "--lock", "-"}, kDataError, "standard input"},
        BadInput{"extend_forever", {"extend", "--store", "memory:", "--lock", kValidLock}, kUsage, "no TTL"}),
    [](const ::testing::TestParamInfo<BadInput>& param) { return param.param.name; });

TEST(CliSingleProcess, RunsOnTheMemoryStore) {
  TempDir dir;
  const auto r = run_verrou(dir, {.args = {"run", "--store", "memory:", "--key", "k", "--",
                                           "sh", "-c", "echo ran; exit 4"}});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_EQ(r.out, "ran\n");
}

TEST(CliSingleProcess, DefaultStoreWithoutSqliteSaysSo) {
  TempDir dir;
  const auto r = run_verrou(dir, {.args = {"status", "--key", "k"}});
#ifdef VERROU_HAS_SQLITE
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "free\n");
#else
  EXPECT_EQ(r.code, kUnavailable);
  EXPECT_TRUE(contains(r.err, "SQLite")) << r.err;
#endif
}

}  // namespace
}  // namespace verrou::cli_test
