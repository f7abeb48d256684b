// SPDX-License-Identifier: Apache-2.0
// `verrou list`: locks taken by `verrou acquire` processes are listed by another process, as
// JSON lines (with --json, or when stdout is not a terminal) and as a table on a terminal, on
// every store that can list (the test servers of scripts/servers.sh, skipped when unreachable);
// a store that cannot list gives its own exit code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_process.hpp"
#include "verrou/open_store.hpp"
#include "verrou/serialized_lock.hpp"
#include "verrou/store.hpp"

namespace verrou::cli_test {
namespace {

constexpr int kCannotList = 78;

bool servers_required() {
  const char* value = std::getenv("VERROU_REQUIRE_SERVERS");
  return value != nullptr && std::string(value) == "1";
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

struct SharedStore {
  std::string name;
  std::string url;  // {dir}: the test's scratch folder
  const char* env = nullptr;
};

void PrintTo(const SharedStore& store, std::ostream* out) { *out << store.name; }
std::string store_name(const ::testing::TestParamInfo<SharedStore>& info) {
  return info.param.name;
}

bool driver_built(const std::string& url) {
  const auto schemes = supported_schemes();
  const std::string scheme = url.substr(0, url.find(':'));
  return std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
}

// DynamoDB test servers take any credentials; the store insists on having some.
const std::map<std::string, std::optional<std::string>> kAwsEnv{
    {"AWS_ACCESS_KEY_ID", "verrouTests"}, {"AWS_SECRET_ACCESS_KEY", "verrouTestsSecret"}};

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

class CliList : public ::testing::TestWithParam<SharedStore> {
 protected:
  void SetUp() override {
    const auto& store = GetParam();
    if (!driver_built(store.url)) GTEST_SKIP() << "the " << store.name << " driver is not built";
    url_ = store.env != nullptr ? env_or(store.env, store.url) : store.url;
    if (const auto at = url_.find("{dir}"); at != std::string::npos) {
      url_.replace(at, 5, dir_.path().string());
    }
    for (const auto& [name, value] : kAwsEnv) {
      if (std::getenv(name.c_str()) == nullptr) ::setenv(name.c_str(), value->c_str(), 1);
    }
    try {
      (void)open_store(url_)->exists("verrou-cli-probe");
    } catch (const std::exception& e) {
      if (servers_required()) FAIL() << store.name << " unreachable: " << e.what();
      GTEST_SKIP() << store.name << " unreachable: " << e.what();
    }
    prefix_ = "cli-list-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
    std::replace(prefix_.begin(), prefix_.end(), '/', '-');
    prefix_ += "/";
  }

  Result verrou(std::vector<std::string> args) const {
    args.insert(args.begin() + 1, {"--store", url_});
    return run_verrou(dir_, {.args = std::move(args), .env = kAwsEnv});
  }

  TempDir dir_;
  std::string url_;
  std::string prefix_;
};

TEST_P(CliList, ListsTheLocksOtherProcessesHoldAsJsonLines) {
  const auto a = verrou({"acquire", "--key", prefix_ + "a", "--ttl", "60s"});
  ASSERT_EQ(a.code, 0) << a.err;
  const auto b = verrou({"acquire", "--key", prefix_ + "b", "--ttl", "forever"});
  ASSERT_EQ(b.code, 0) << b.err;
  const auto outside = verrou({"acquire", "--key", prefix_.substr(0, prefix_.size() - 1) + "x"});
  ASSERT_EQ(outside.code, 0) << outside.err;
  const auto lock_a = SerializedLock::from_json(a.out);
  const auto lock_b = SerializedLock::from_json(b.out);

  const auto listed = verrou({"list", "--prefix", prefix_, "--json"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  const auto lines = json_lines(listed.out);
  ASSERT_EQ(lines.size(), 2U) << listed.out;
  EXPECT_EQ(lines[0]["key"], prefix_ + "a");
  EXPECT_EQ(lines[0]["owner"], lock_a.owner);
  ASSERT_TRUE(lines[0]["remaining_ms"].is_number_integer()) << lines[0];
  EXPECT_GT(lines[0]["remaining_ms"].get<std::int64_t>(), 0);
  EXPECT_LE(lines[0]["remaining_ms"].get<std::int64_t>(), 60000);
  EXPECT_EQ(lines[1]["key"], prefix_ + "b");
  EXPECT_EQ(lines[1]["owner"], lock_b.owner);
  EXPECT_TRUE(lines[1]["remaining_ms"].is_null()) << "a lock without TTL: null";
  for (const auto& [line, lock] : {std::pair{lines[0], lock_a}, std::pair{lines[1], lock_b}}) {
    ASSERT_TRUE(line.contains("fencing_token")) << line;
    if (lock.fencing_token) {
      EXPECT_EQ(line["fencing_token"], *lock.fencing_token) << line;
    }
  }

  // Not a terminal: JSON lines without --json too; --limit keeps the first.
  const auto plain = verrou({"list", "--prefix", prefix_, "--limit", "1"});
  ASSERT_EQ(plain.code, 0) << plain.err;
  const auto first = json_lines(plain.out);
  ASSERT_EQ(first.size(), 1U) << plain.out;
  EXPECT_EQ(first[0]["key"], prefix_ + "a");

  for (const auto* out : {&a.out, &b.out, &outside.out}) {
    const auto released = verrou({"release", "--lock", *out});
    EXPECT_EQ(released.code, 0) << released.err;
  }
  const auto empty = verrou({"list", "--prefix", prefix_, "--json"});
  EXPECT_EQ(empty.code, 0) << empty.err;
  EXPECT_EQ(empty.out, "");
}

TEST_P(CliList, PrintsATableOnATerminal) {
  if (::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  const auto a = verrou({"acquire", "--key", prefix_ + "t", "--ttl", "5m"});
  ASSERT_EQ(a.code, 0) << a.err;
  const auto lock = SerializedLock::from_json(a.out);
  // script(1) gives verrou a terminal as its stdout.
  const std::string command = verrou_path() + " list --store '" + url_ + "' --prefix '" + prefix_ + "'";
  std::string output;
  FILE* pipe = ::popen(("script -qec \"" + command + "\" /dev/null").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0) << output;
  const struct { std::string out; } table{output};
  EXPECT_NE(table.out.find("KEY"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("FENCING TOKEN"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(prefix_ + "t"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(lock.owner), std::string::npos) << table.out;
  EXPECT_EQ(verrou({"release", "--lock", a.out}).code, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, CliList,
    ::testing::Values(
        SharedStore{.name = "sqlite", .url = "sqlite://{dir}/locks.db"},
        SharedStore{.name = "postgres", .url = "postgres://verrou:verrou@127.0.0.1:5432/verrou",
                    .env = "VERROU_POSTGRES_URL"},
        SharedStore{.name = "mysql", .url = "mysql://verrou:verrou@127.0.0.1:3306/verrou",
                    .env = "VERROU_MYSQL_URL"},
        SharedStore{.name = "redis", .url = "redis://127.0.0.1:6379", .env = "VERROU_REDIS_URL"},
        SharedStore{.name = "redis_cluster",
                    .url = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
                    .env = "VERROU_REDIS_CLUSTER_URL"},
        SharedStore{
            .name = "dynamodb",
            .url = "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000&table=verrou_tests",
            .env = "VERROU_DYNAMODB_URL"},
        SharedStore{.name = "etcd", .url = "etcd://127.0.0.1:2379", .env = "VERROU_ETCD_URL"}),
    store_name);

// The SOCI adapter has no listing (SQLite through SOCI needs no server).
TEST(CliListStore, AStoreThatCannotListSaysSoWithItsOwnExitCode) {
  TempDir dir;
  const std::string url = "soci://sqlite3/" + (dir.path() / "soci.db").string();
  if (!driver_built(url)) GTEST_SKIP() << "the soci driver is not built";
  const auto r = run_verrou(dir, {.args = {"list", "--store", url}});
  EXPECT_EQ(r.code, kCannotList) << r.err;
  EXPECT_NE(r.err.find("cannot list"), std::string::npos) << r.err;
}

TEST(CliListStore, TheMemoryStoreOfANewProcessListsNothing) {
  TempDir dir;
  const auto r = run_verrou(dir, {.args = {"list", "--store", "memory:", "--json"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace verrou::cli_test
