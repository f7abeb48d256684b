// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "verrou/verrou.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;

TEST(Verrou, CreatesEachStoreLazilyOnceAndReusesItsFactory) {
  std::atomic<int> made{0};
  Verrou locks({
      .default_store = "a",
      .stores = {{"a", StoreFactory{.driver = "memory",
                                    .create = [&] {
                                      made++;
                                      return std::make_shared<MemoryStore>();
                                    }}},
                 {"b", memory_store()}},
  });
  EXPECT_EQ(made.load(), 0) << "stores must be created on first use";
  std::vector<std::thread> threads;
  std::vector<LockFactory*> seen(8);
  for (std::size_t i = 0; i < 8; ++i) threads.emplace_back([&, i] { seen[i] = &locks.use("a"); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load(), 1);
  for (auto* f : seen) EXPECT_EQ(f, seen[0]);
  EXPECT_NE(&locks.use("b"), seen[0]);
}

TEST(Verrou, DefaultStoreServesCreateAndRestore) {
  Verrou locks({.default_store = "mem", .stores = {{"mem", memory_store()}}});
  auto lock = locks.create_lock("k", 10s);
  ASSERT_TRUE(lock.acquire());
  EXPECT_TRUE(locks.use("mem").create_lock("k").is_locked());
  auto restored = locks.restore_lock(lock.serialize());
  restored.release();
  EXPECT_FALSE(lock.is_locked());
  EXPECT_EQ(locks.create_lock("t", "2s").ttl(), 2s);
}

TEST(Verrou, RejectsBadConfigurationAndUnknownStores) {
  EXPECT_THROW(Verrou({}), InvalidArgumentError);
  EXPECT_THROW(Verrou({.default_store = "x", .stores = {{"memory", memory_store()}}}),
               InvalidArgumentError);
  EXPECT_THROW(Verrou({.default_store = "", .stores = {{"a", memory_store()}, {"b", memory_store()}}}),
               InvalidArgumentError);
  Verrou single({.stores = {{"only", memory_store()}}});
  EXPECT_EQ(single.default_store(), "only");
  try {
    single.use("nope");
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("\"only\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(Verrou({.stores = {{"a", StoreFactory{.driver = "x", .create = {}}}}}).use("a"),
               InvalidArgumentError);
}

TEST(Verrou, AppliesItsRetryOptionsToEveryLock) {
  Verrou locks({.stores = {{"m", memory_store()}}, .retry = {.attempts = 1}});
  auto holder = locks.create_lock("k");
  ASSERT_TRUE(holder.acquire());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(locks.create_lock("k").acquire());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(OpenStore, OpensMemoryAndExplainsOtherSchemes) {
  auto store = open_store("memory:");
  ASSERT_NE(dynamic_cast<MemoryStore*>(store.get()), nullptr);
  EXPECT_NE(open_store("memory:"), store) << "each URL opens its own store";
  EXPECT_THROW(open_store("memory://host"), InvalidArgumentError);
  EXPECT_THROW(open_store("memory:?size=1"), InvalidArgumentError);
  try {
    open_store("ftp://example");
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown store URL scheme \"ftp:\""), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("memory:"), std::string::npos) << e.what();
  }
  const auto schemes = supported_schemes();
  for (const char* scheme : {"sqlite", "postgres", "mysql", "redis", "dynamodb", "soci"}) {
    if (std::find(schemes.begin(), schemes.end(), scheme) != schemes.end()) continue;
    try {
      open_store(std::string(scheme) + "://127.0.0.1:1/x");
      ADD_FAILURE() << scheme;
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find("was not built"), std::string::npos) << e.what();
    }
  }
}

TEST(OpenStore, RedactsPasswords) {
  EXPECT_EQ(redact_url("redis://user:secret@host:6379/0"), "redis://user:***@host:6379/0");
  EXPECT_EQ(redact_url("postgres://u:p%40ss@h/db?sslmode=require"), "postgres://u:***@h/db?sslmode=require");
  EXPECT_EQ(redact_url("redis://:pw@h"), "redis://:***@h");
  EXPECT_EQ(redact_url("redis://h:6379"), "redis://h:6379");
  EXPECT_EQ(redact_url("dynamodb://?region=x&secret_access_key=abc&table=t"),
            "dynamodb://?region=x&secret_access_key=***&table=t");
  try {
    open_store("redis://user:hunter2@host:99999");
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace verrou
