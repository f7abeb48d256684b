// SPDX-License-Identifier: Apache-2.0
// `verrou run --limit N` and `verrou status --limit N`: several commands at once under a
// semaphore of 2 permits on every store with semaphores (never more than 2 inside, recorded
// by the commands themselves with timestamps), the permit count, the environment, the
// --limit checks, a store without semaphores, and a permit lost while verrou was stopped.
// Timing: commands sleep for fixed times and a holder is frozen past its TTL (label `timing`).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_process.hpp"
#include "verrou/open_store.hpp"
#include "verrou/store.hpp"

namespace verrou::cli_test {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool servers_required() {
  const char* value = std::getenv("VERROU_REQUIRE_SERVERS");
  return value != nullptr && std::string(value) == "1";
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// A store shared by processes: its URL ({dir} becomes the test's scratch folder) and the
// environment variable that overrides it.
struct SharedStore {
  std::string name;
  std::string url;
  const char* env = nullptr;
};

// Whether this build has the driver of `url`'s scheme.
bool driver_built(const std::string& url) {
  const auto schemes = supported_schemes();
  const std::string scheme = url.substr(0, url.find(':'));
  return std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
}

void PrintTo(const SharedStore& store, std::ostream* out) { *out << store.name; }

std::string store_name(const ::testing::TestParamInfo<SharedStore>& info) {
  return info.param.name;
}

// DynamoDB test servers take any credentials; the store insists on having some.
const std::map<std::string, std::optional<std::string>> kAwsEnv{
    {"AWS_ACCESS_KEY_ID", "verrouTests"}, {"AWS_SECRET_ACCESS_KEY", "verrouTestsSecret"}};

class CliSemaphore : public ::testing::TestWithParam<SharedStore> {
 protected:
  void SetUp() override {
    const auto& store = GetParam();
    if (!driver_built(store.url)) GTEST_SKIP() << "the " << store.name << " driver is not built";
    url_ = store.env != nullptr ? env_or(store.env, store.url) : store.url;
    const std::string dir_token = "{dir}";
    if (const auto at = url_.find(dir_token); at != std::string::npos) {
      url_.replace(at, dir_token.size(), dir_.path().string());
    }
    for (const auto& [name, value] : kAwsEnv) {
      if (std::getenv(name.c_str()) == nullptr) ::setenv(name.c_str(), value->c_str(), 1);
    }
    std::shared_ptr<LockStore> opened;
    try {
      opened = open_store(url_);
      (void)opened->exists("verrou-cli-probe");
    } catch (const std::exception& e) {
      if (servers_required()) {
        FAIL() << store.name << " unreachable (VERROU_REQUIRE_SERVERS=1): " << e.what();
      }
      GTEST_SKIP() << store.name << " unreachable: " << e.what();
    }
    // Stores gain semaphores one by one: a store without them is checked by the test that
    // expects the clear refusal instead.
    if (dynamic_cast<SemaphoreStore*>(opened.get()) == nullptr) {
      GTEST_SKIP() << "the " << store.name << " store has no semaphores (yet)";
    }
    key_ = "cli-semaphore-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(key_.begin(), key_.end(), '/', '-');
  }

  std::unique_ptr<Process> start(const std::vector<std::string>& args) const {
    std::vector<std::string> all{args.front(), "--store", url_, "--key", key_};
    all.insert(all.end(), args.begin() + 1, args.end());
    return std::make_unique<Process>(dir_, Spawn{.args = all, .env = kAwsEnv});
  }

  Result run(const std::vector<std::string>& args) const {
    auto process = start(args);
    const auto code = process->wait();
    return {code.value_or(-1), process->out(), process->err()};
  }

  TempDir dir_;
  std::string url_;
  std::string key_;
};

// One line per entry and exit, written by the commands themselves: "<enter|exit> <ns> <pid>".
struct Event {
  std::int64_t at = 0;
  bool enter = false;
  std::string pid;
};

std::vector<Event> read_events(const std::filesystem::path& path) {
  std::vector<Event> events;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string kind;
    Event e;
    fields >> kind >> e.at >> e.pid;
    if (!fields) continue;
    e.enter = kind == "enter";
    events.push_back(e);
  }
  return events;
}

// The commands record their entry after verrou acquired and their exit before verrou gives the
// permit back: the recorded intervals lie inside the real ones, so more than two of them at
// once is a real excess.
TEST_P(CliSemaphore, RunLetsAtMostLimitCommandsInAtOnce) {
  const auto log = dir_.path() / "events.log";
  const std::string body = "echo \"enter $(date +%s%N) $$\" >> '" + log.string() +
                           "'; sleep 0.6; echo \"exit $(date +%s%N) $$\" >> '" + log.string() +
                           "'";
  constexpr int kProcesses = 6;
  std::vector<std::unique_ptr<Process>> runs;
  for (int i = 0; i < kProcesses; ++i) {
    runs.push_back(start({"run", "--limit", "2", "--ttl", "10s", "--delay", "20ms", "--timeout",
                          "60s", "--", "sh", "-c", body}));
  }
  for (auto& r : runs) EXPECT_EQ(r->wait(90s), 0) << r->err();
  auto events = read_events(log);
  ASSERT_EQ(events.size(), 2U * kProcesses) << "every command enters and exits once";
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    // At one instant, an exit before an entry: touching intervals do not overlap.
    return a.at != b.at ? a.at < b.at : !a.enter && b.enter;
  });
  int inside = 0;
  int most = 0;
  std::map<std::string, int> per_pid;
  for (const auto& e : events) {
    inside += e.enter ? 1 : -1;
    per_pid[e.pid] += e.enter ? 1 : -1;
    most = std::max(most, inside);
    ASSERT_LE(inside, 2) << "more than 2 commands inside at " << e.at;
    ASSERT_GE(per_pid[e.pid], 0) << "an exit before its entry";
  }
  EXPECT_EQ(inside, 0);
  // Six commands of 0.6 s each, taking turns as soon as a permit is free: two side by side.
  EXPECT_EQ(most, 2) << "the semaphore never let two commands in together";
}

TEST_P(CliSemaphore, StatusCountsThePermitsHeldAndAFullSemaphoreTurnsAwayANewcomer) {
  const auto go = dir_.path() / "go";
  const std::string body =
      "echo ready; while [ ! -e '" + go.string() + "' ]; do sleep 0.05; done";
  auto first = start({"run", "--limit", "2", "--", "sh", "-c", body});
  auto second = start({"run", "--limit", "2", "--", "sh", "-c", body});
  ASSERT_TRUE(first->wait_for_output("ready", 30s)) << first->err();
  ASSERT_TRUE(second->wait_for_output("ready", 30s)) << second->err();
  const auto full = run({"status", "--limit", "2"});
  EXPECT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.out, "2 of 2 permits held\n");
  const auto larger = run({"status", "--limit", "5"});
  EXPECT_EQ(larger.out, "2 of 5 permits held\n") << larger.err;
  // A lock of the same name is another thing altogether: free.
  EXPECT_EQ(run({"status"}).out, "free\n");
  const auto turned_away = run({"run", "--limit", "2", "--no-wait", "--", "true"});
  EXPECT_EQ(turned_away.code, 75) << turned_away.err;
  EXPECT_TRUE(contains(turned_away.err, "has no free permit")) << turned_away.err;
  EXPECT_TRUE(contains(turned_away.err, "the command did not run")) << turned_away.err;
  std::ofstream(go).put('\n');
  EXPECT_EQ(first->wait(30s), 0) << first->err();
  EXPECT_EQ(second->wait(30s), 0) << second->err();
  EXPECT_EQ(run({"status", "--limit", "2"}).out, "0 of 2 permits held\n");
}

INSTANTIATE_TEST_SUITE_P(
    Stores, CliSemaphore,
    ::testing::Values(
        SharedStore{.name = "sqlite", .url = "sqlite://{dir}/locks.db"},
        SharedStore{.name = "postgres", .url = "postgres://verrou:verrou@127.0.0.1:5432/verrou",
                    .env = "VERROU_POSTGRES_URL"},
        SharedStore{.name = "mysql", .url = "mysql://verrou:verrou@127.0.0.1:3306/verrou",
                    .env = "VERROU_MYSQL_URL"},
        SharedStore{.name = "redis", .url = "redis://127.0.0.1:6379", .env = "VERROU_REDIS_URL"},
        SharedStore{
            .name = "dynamodb",
            .url = "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000&table=verrou_tests",
            .env = "VERROU_DYNAMODB_URL"},
        SharedStore{.name = "etcd", .url = "etcd://127.0.0.1:2379", .env = "VERROU_ETCD_URL"}),
    store_name);

// --- one process: the memory store -------------------------------------------------------------

TEST(CliSemaphoreRun, TheCommandFindsTheKeyAndNoFencingToken) {
  TempDir dir;
  // No token orders the holders of a semaphore: one inherited from an outer `verrou run`
  // (of a lock) is removed, as it would fence the wrong thing.
  const auto r = run_verrou(
      dir, {.args = {"run", "--store", "memory:", "--key", "builds", "--limit", "3", "--", "sh",
                     "-c", "echo \"key=$VERROU_LOCK_KEY token=${VERROU_FENCING_TOKEN-unset}\""},
            .env = {{"VERROU_FENCING_TOKEN", "999"}, {"VERROU_LOCK_KEY", "other"}}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "key=builds token=unset\n");
  EXPECT_EQ(r.err, "");
}

TEST(CliSemaphoreRun, TheCommandsExitCodeIsPassedOn) {
  TempDir dir;
  const auto r = run_verrou(dir, {.args = {"run", "--store", "memory:", "--key", "k", "--limit",
                                           "1", "--", "sh", "-c", "exit 9"}});
  EXPECT_EQ(r.code, 9) << r.err;
}

TEST(CliSemaphoreRun, BadLimitsAreRefusedWithWhatIsValid) {
  TempDir dir;
  for (const std::string limit : {"0", "2147483649", "99999999999999999999", "-1", "two", ""}) {
    for (const std::string verb : {"run", "status"}) {
      std::vector<std::string> args{verb, "--store", "memory:", "--key", "k", "--limit", limit};
      if (verb == "run") args.insert(args.end(), {"--", "true"});
      const auto r = run_verrou(dir, {.args = args});
      EXPECT_EQ(r.code, 64) << verb << " --limit '" << limit << "': " << r.err;
      EXPECT_TRUE(contains(r.err, "1 to 2147483648") || contains(r.err, "--limit"))
          << verb << " --limit '" << limit << "': " << r.err;
    }
  }
  const auto most = run_verrou(dir, {.args = {"run", "--store", "memory:", "--key", "k",
                                              "--limit", "2147483648", "--", "true"}});
  EXPECT_EQ(most.code, 0) << most.err;
}

// verrou frozen (SIGSTOP) past its TTL cannot extend the permit: when it runs again its
// keep-alive declares the permit lost at once, --kill-on-lost stops the command, and verrou
// exits with 77. The memory store lives in verrou itself, so only verrou is frozen.
TEST(CliSemaphoreRun, APermitLostWhileVerrouWasStoppedEndsWith77AndStopsTheCommand) {
  TempDir dir;
  Process run(dir, {.args = {"run", "--store", "memory:", "--key", "k", "--limit", "2", "--ttl",
                             "1s", "--kill-on-lost", "--kill-grace", "5s", "--", "sh", "-c",
                             "echo ready; exec sleep 60"}});
  ASSERT_TRUE(run.wait_for_output("ready", 20s)) << run.err();
  run.signal(SIGSTOP);
  std::this_thread::sleep_for(1500ms);
  run.signal(SIGCONT);
  EXPECT_EQ(run.wait(30s), 77) << run.err();
  EXPECT_TRUE(contains(run.err(), "Semaphore lost: key=k")) << run.err();
  EXPECT_TRUE(contains(run.err(), "permit of semaphore \"k\"")) << run.err();
  EXPECT_TRUE(contains(run.err(), "--kill-on-lost")) << run.err();
  EXPECT_TRUE(contains(run.err(), "exited with 143, verrou exits with 77")) << run.err();
}

}  // namespace
}  // namespace verrou::cli_test
