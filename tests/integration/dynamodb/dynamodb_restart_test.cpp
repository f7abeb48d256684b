// SPDX-License-Identifier: Apache-2.0
// Fencing tokens and locks across a restart of the server: a private AWS DynamoDB Local that
// keeps its tables in a file (-dbPath), on a private port, stopped and started again.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "dynamodb_test_support.hpp"
#include "verrou/drivers/dynamodb.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/testing/server.hpp"

// This program links verrou::testing for its server helpers, not for the suite.
namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace verrou::conformance

namespace verrou::dynamodb_test {
namespace {

using namespace std::chrono_literals;

bool port_in_use(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool used = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return used;
}

// A DynamoDB Local of this test alone, started by the project's own server script.
class PrivateDynamoDbLocal {
 public:
  PrivateDynamoDbLocal()
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("verrou-dynamodb-restart-" + conformance::unique_suffix())) {
    std::filesystem::create_directories(dir_);
    // The range 19000-19999 is this store's for private servers; skip ports in use.
    port_ = 19000 + static_cast<int>(::getpid() % 900);
    while (port_in_use(port_)) port_ = port_ >= 19899 ? 19000 : port_ + 1;
  }
  ~PrivateDynamoDbLocal() {
    (void)script("stop");
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  PrivateDynamoDbLocal(const PrivateDynamoDbLocal&) = delete;
  PrivateDynamoDbLocal& operator=(const PrivateDynamoDbLocal&) = delete;

  // Runs scripts/servers/dynamodb-local.sh `action` on this instance; true when it succeeded.
  bool script(const std::string& action) const {
    const std::string command =
        "VERROU_DYNAMODB_LOCAL_PORT=" + std::to_string(port_) + " VERROU_DYNAMODB_LOCAL_DIR='" +
        dir_.string() + "/run' VERROU_DYNAMODB_LOCAL_DB_PATH='" + dir_.string() + "/db' '" +
        VERROU_SOURCE_DIR "/scripts/servers/dynamodb-local.sh' " + action + " >>'" +
        dir_.string() + "/script.log' 2>&1";
    return std::system(command.c_str()) == 0;
  }

  [[nodiscard]] DynamoDbStoreOptions options() const {
    return {.table = "verrou_restart",
            .endpoint = "http://127.0.0.1:" + std::to_string(port_),
            .credentials = test_credentials(),
            .retry_deadline = 15s};  // a just-started JVM answers slowly on a busy machine
  }
  [[nodiscard]] std::string log() const { return (dir_ / "script.log").string(); }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
};

TEST(DynamoDbLocalRestart, TokensAndLocksSurviveARestartOfAServerKeepingItsData) {
  if (std::system("command -v java >/dev/null 2>&1") != 0) {
    VERROU_SKIP_OR_FAIL("java is not installed: DynamoDB Local cannot run");
  }
  PrivateDynamoDbLocal server;
  if (!server.script("start")) VERROU_SKIP_OR_FAIL("DynamoDB Local did not start; see " + server.log());

  std::uint64_t held_token = 0;
  std::uint64_t released_token = 0;
  std::uint64_t forced_token = 0;
  std::string held_owner;
  {
    LockFactory locks(std::make_shared<DynamoDbStore>(server.options()));
    auto held = locks.create_lock("held", 10min);
    ASSERT_TRUE(held.acquire_immediately());
    held_token = held.fencing_token().value();
    held_owner = held.owner();
    auto released = locks.create_lock("released", 10min);
    ASSERT_TRUE(released.acquire_immediately());
    released_token = released.fencing_token().value();
    released.release();
    auto forced = locks.create_lock("forced", 10min);
    ASSERT_TRUE(forced.acquire_immediately());
    forced_token = forced.fencing_token().value();
    forced.force_release();
  }

  ASSERT_TRUE(server.script("stop"));
  ASSERT_TRUE(server.script("start")) << "see " << server.log();

  auto store = std::make_shared<DynamoDbStore>(server.options());
  LockFactory locks(store);
  EXPECT_TRUE(store->exists("held")) << "a held lock was lost in the restart";
  auto other = locks.create_lock("held", 10min);
  EXPECT_FALSE(other.acquire_immediately());
  for (const auto& [key, before] : {std::pair{"released", released_token},
                                    std::pair{"forced", forced_token}}) {
    auto lock = locks.create_lock(key, 10min);
    ASSERT_TRUE(lock.acquire_immediately()) << key;
    EXPECT_GT(lock.fencing_token().value(), before) << key << ": the counter went back";
    lock.release();
  }
  store->remove("held", held_owner);
  ASSERT_TRUE(other.acquire_immediately());
  EXPECT_GT(other.fencing_token().value(), held_token);
  other.release();
}

}  // namespace
}  // namespace verrou::dynamodb_test
