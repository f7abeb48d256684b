// SPDX-License-Identifier: Apache-2.0
// DatabaseStore's own logic, over the documentation's example adapter (no server needed).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include <verrou/drivers/database.hpp>
#include <verrou/errors.hpp>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>

#include "integration/database/example_adapter.hpp"

using verrou::conformance::StoreConformance;

INSTANTIATE_TEST_SUITE_P(DatabaseExample, StoreConformance,
                         ::testing::Values(verrou::conformance::StoreHarness{
                             .name = "database_example_adapter",
                             .make_store =
                                 [] {
                                   return std::make_shared<verrou::DatabaseStore>(
                                       verrou::DatabaseStoreOptions{
                                           .adapter = std::make_shared<MapAdapter>()});
                                 },
                             .require_fencing = true,
                             .require_semaphores = true,
                             .stores_share_data = false,
                         }),
                         verrou::conformance::harness_name);

namespace {

class CountingAdapter : public MapAdapter {
 public:
  void create_table_if_not_exists() override { ++creates; }
  std::atomic<int> creates{0};
};

std::shared_ptr<verrou::DatabaseStore> make_store(std::shared_ptr<verrou::DatabaseAdapter> a) {
  return std::make_shared<verrou::DatabaseStore>(verrou::DatabaseStoreOptions{.adapter = a});
}

// An adapter written before fencing tokens existed: the store works as before, without tokens.
class NoTokensAdapter : public MapAdapter {
 public:
  [[nodiscard]] bool gives_fencing_tokens() const noexcept override { return false; }
};

TEST(DatabaseStore, AnAdapterWithoutTokensGivesNone) {
  auto store = make_store(std::make_shared<NoTokensAdapter>());
  EXPECT_FALSE(store->gives_fencing_tokens());
  EXPECT_THROW(store->save_fenced("k", "me", std::nullopt), verrou::InvalidArgumentError);
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock("k");
  ASSERT_TRUE(lock.acquire_immediately());
  EXPECT_EQ(lock.fencing_token(), std::nullopt);
  EXPECT_FALSE(locks.create_lock("k").acquire_immediately());
  lock.release();
}

TEST(DatabaseStore, TokensComeFromTheAdapter) {
  auto store = make_store(std::make_shared<MapAdapter>());
  EXPECT_TRUE(store->gives_fencing_tokens());
  EXPECT_EQ(store->save_fenced("k", "a", std::chrono::seconds(10)), 1U);
  EXPECT_EQ(store->save_fenced("k", "b", std::chrono::seconds(10)), std::nullopt);
  store->remove("k", "a");
  EXPECT_TRUE(store->save("k", "b", std::chrono::seconds(10))) << "save takes a token too";
  store->remove("k", "b");
  EXPECT_EQ(store->save_fenced("k", "a", std::chrono::seconds(10)), 3U);
  EXPECT_THROW(store->save_fenced("", "a", std::nullopt), verrou::InvalidArgumentError);
}

TEST(DatabaseStore, RequiresAnAdapter) {
  EXPECT_THROW(verrou::DatabaseStore(verrou::DatabaseStoreOptions{}),
               verrou::InvalidArgumentError);
}

TEST(DatabaseStore, SetsTheTableAndCreatesItUnlessTold) {
  auto a = std::make_shared<CountingAdapter>();
  verrou::DatabaseStore s({.adapter = a, .table_name = "app_locks"});
  EXPECT_EQ(a->table(), "app_locks");
  EXPECT_EQ(s.table_name(), "app_locks");
  EXPECT_EQ(a->creates, 1);
  auto b = std::make_shared<CountingAdapter>();
  verrou::DatabaseStore t({.adapter = b, .auto_create_table = false});
  EXPECT_EQ(b->table(), "verrou");
  EXPECT_EQ(b->creates, 0);
}

TEST(DatabaseStore, RejectsTableNamesThatAreNotPlainIdentifiers) {
  for (const char* bad : {"", "1locks", "locks; DROP TABLE users", "a\"b", "a-b", "a.b",
                          "x234567890123456789012345678901234567890123456789012345678901234"}) {
    EXPECT_THROW(verrou::DatabaseStore({.adapter = std::make_shared<MapAdapter>(),
                                        .table_name = bad}),
                 verrou::InvalidArgumentError)
        << bad;
  }
  EXPECT_NO_THROW(verrou::validate_sql_identifier("_Locks_2"));
  EXPECT_NO_THROW(verrou::validate_sql_identifier(std::string(63, 'a')));
}

TEST(DatabaseStore, QuotesIdentifiers) {
  EXPECT_EQ(verrou::quote_sql_identifier("verrou"), "\"verrou\"");
  EXPECT_EQ(verrou::quote_sql_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(verrou::quote_sql_identifier("a`b", '`'), "`a``b`");
}

TEST(DatabaseStore, RefusesKeysLongerThanTheColumnInsteadOfTruncating) {
  auto s = make_store(std::make_shared<MapAdapter>());
  const std::string fits(255, 'k');
  EXPECT_TRUE(s->save(fits, "me", std::chrono::seconds(10)));
  EXPECT_THROW(s->save(fits + "k", "me", std::chrono::seconds(10)), verrou::InvalidArgumentError);
  EXPECT_THROW(s->exists(fits + "k"), verrou::InvalidArgumentError);
  EXPECT_THROW(s->save("k", std::string(256, 'o'), std::nullopt), verrou::InvalidArgumentError);
  // 255 bytes of multi-byte characters fit too (no column counts fewer than bytes/4 chars).
  std::string accents;
  for (int i = 0; i < 127; ++i) accents += "\xc3\xa9";
  EXPECT_TRUE(s->save(accents, "me", std::nullopt));
}

TEST(DatabaseStore, RefusesKeysThatAreNotText) {
  auto s = make_store(std::make_shared<MapAdapter>());
  EXPECT_THROW(s->save(std::string("a\0b", 3), "me", std::nullopt), verrou::InvalidArgumentError);
  EXPECT_THROW(s->save("bad\xff", "me", std::nullopt), verrou::InvalidArgumentError);
  EXPECT_THROW(s->save("\xc0\xaf", "me", std::nullopt), verrou::InvalidArgumentError);  // overlong
  EXPECT_THROW(s->save("", "me", std::nullopt), verrou::InvalidArgumentError);
  EXPECT_TRUE(s->save("caf\xc3\xa9 \xf0\x9f\x94\x92", "me", std::nullopt));
}

TEST(DatabaseStore, JudgesExpiryByTheAdaptersClockOnly) {
  std::atomic<std::int64_t> db_now{1'000'000};
  auto s = make_store(std::make_shared<MapAdapter>([&] { return db_now.load(); }));
  ASSERT_TRUE(s->save("k", "a", std::chrono::milliseconds(100)));
  EXPECT_FALSE(s->save("k", "b", std::chrono::milliseconds(100)));
  db_now += 99;
  EXPECT_TRUE(s->exists("k"));
  EXPECT_FALSE(s->save("k", "b", std::chrono::milliseconds(100)));
  db_now += 1;  // expiration <= now: expired
  EXPECT_FALSE(s->exists("k"));
  EXPECT_THROW(s->remove("k", "a"), verrou::LockNotOwnedError);
  EXPECT_THROW(s->extend("k", "a", std::chrono::seconds(1)), verrou::LockNotOwnedError);
  EXPECT_TRUE(s->save("k", "b", std::chrono::milliseconds(100)));
  EXPECT_THROW(s->remove("k", "a"), verrou::LockNotOwnedError);
  s->remove("k", "b");
  EXPECT_FALSE(s->exists("k"));
}

}  // namespace
