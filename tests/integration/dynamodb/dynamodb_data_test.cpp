// SPDX-License-Identifier: Apache-2.0
// The DynamoDB store's fencing counter and semaphore items on dynalite and DynamoDB Local:
// answers lost after the write took effect (through a proxy that forwards every request to the
// real server and loses one answer), and items holding data verrou-cpp never writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "drivers/dynamodb/client.hpp"
#include "dynamodb_test_support.hpp"
#include "fake_dynamodb.hpp"
#include "verrou/drivers/dynamodb.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/testing/server.hpp"

namespace verrou::dynamodb_test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

class DynamoDbData : public ::testing::TestWithParam<Server (*)()> {
 protected:
  void SetUp() override {
    server_ = GetParam()();
    if (auto why = unavailable(server_)) VERROU_SKIP_OR_FAIL(*why);
    table_ = unique_table("data");
    auto o = options_for(server_);
    o.table = table_;
    store_ = std::make_shared<DynamoDbStore>(o);
  }
  void TearDown() override {
    if (!store_) return;
    for (const auto& t : {table_, store_->semaphore_table()}) {
      (void)raw()->call("DeleteTable", {{"TableName", t}});
    }
  }

  [[nodiscard]] std::unique_ptr<detail::dynamodb::Client> raw() const {
    const auto o = options_for(server_);
    return std::make_unique<detail::dynamodb::Client>(detail::dynamodb::ClientOptions{
        .endpoint = o.endpoint,
        .region = o.region.empty() ? "us-east-1" : o.region,
        .credentials = {test_credentials().access_key_id, test_credentials().secret_access_key,
                        ""},
        .retry_deadline = Duration{0}});
  }

  // Writes an item as is, bypassing the store.
  void put(const std::string& table, const json& item) const {
    const auto r = raw()->call("PutItem", {{"TableName", table}, {"Item", item}});
    ASSERT_TRUE(r.ok()) << r.error_type << ": " << r.message;
  }
  [[nodiscard]] json get(const std::string& table, const std::string& key) const {
    const auto r = raw()->call(
        "GetItem", {{"TableName", table}, {"Key", {{"key", {{"S", key}}}}}, {"ConsistentRead", true}});
    EXPECT_TRUE(r.ok()) << r.error_type << ": " << r.message;
    return r.body.value("Item", json());
  }

  // A store whose requests reach the real server through a proxy that forwards request
  // number `lost` but answers it with a 500, as when the connection drops after the server
  // applied the write. Every other request is answered with the server's answer.
  std::shared_ptr<DynamoDbStore> store_losing_answer(std::function<bool(const std::string& op,
                                                                        std::size_t n)> lose) {
    proxy_ = std::make_unique<FakeDynamoDb>(
        [this, lose = std::move(lose), client = std::shared_ptr(raw())](
            const FakeDynamoDb::Request& request, std::size_t index) -> FakeDynamoDb::Response {
          const std::string target = request.headers.at("x-amz-target");
          const std::string op = target.substr(target.find('.') + 1);
          const auto reply = client->call(op, json::parse(request.body));
          if (lose(op, index)) return FakeDynamoDb::error(500, "InternalServerError", "lost");
          if (reply.ok()) return {200, reply.body.dump()};
          return FakeDynamoDb::error(static_cast<int>(reply.http_status), reply.error_type,
                                     reply.message);
        });
    auto o = options_for(server_);
    o.table = table_;
    o.endpoint = proxy_->endpoint();
    o.retry_deadline = 2s;
    return std::make_shared<DynamoDbStore>(o);
  }

  Server server_;
  std::string table_;
  std::shared_ptr<DynamoDbStore> store_;
  std::unique_ptr<FakeDynamoDb> proxy_;
};

TEST_P(DynamoDbData, AnAcquisitionWhoseAnswerWasLostKeepsTheLockAndGetsAGreaterToken) {
  const auto before = store_->save_fenced("k", "owner-0", 30s);
  ASSERT_TRUE(before.has_value());
  store_->remove("k", "owner-0");
  bool lost_one = false;
  auto lossy = store_losing_answer([&](const std::string& op, std::size_t) {
    if (op != "UpdateItem" || lost_one) return false;
    lost_one = true;
    return true;
  });
  const auto token = lossy->save_fenced("k", "owner-1", 30s);
  ASSERT_TRUE(token.has_value()) << "the retry must recognise its own write";
  EXPECT_GT(*token, *before);
  EXPECT_EQ(get(table_, "k")["owner"]["S"], "owner-1");
  EXPECT_GE(proxy_->requests().size(), 2U);
  EXPECT_FALSE(store_->save("k", "owner-2", 30s));
  store_->remove("k", "owner-1");
}

TEST_P(DynamoDbData, APermitWhoseAnswerWasLostIsReportedTaken) {
  // The holder's PutItem reached the server but its answer was lost: the retry's condition
  // fails (the version moved), and the store must find its own entry, not report "no permit"
  // (which would leave a permit held by nobody until its lease runs out).
  bool lost_one = false;
  auto lossy = store_losing_answer([&](const std::string& op, std::size_t) {
    if (op != "PutItem" || lost_one) return false;
    lost_one = true;
    return true;
  });
  ASSERT_TRUE(lossy->save_permit("s", "holder-1", 2, 30s));
  EXPECT_TRUE(lost_one);
  EXPECT_EQ(store_->count_permits("s"), 1U);
  EXPECT_FALSE(lossy->save_permit("s", "holder-1", 2, 30s)) << "a holder holds one permit";
  EXPECT_TRUE(store_->save_permit("s", "holder-2", 2, 30s));
  EXPECT_FALSE(store_->save_permit("s", "holder-3", 2, 30s));
  store_->remove_permit("s", "holder-1");
  store_->remove_permit("s", "holder-2");
  EXPECT_EQ(store_->count_permits("s"), 0U);
}

TEST_P(DynamoDbData, APermitReleaseWhoseAnswerWasLostSucceeds) {
  ASSERT_TRUE(store_->save_permit("s", "holder-1", 1, 30s));
  bool lost_one = false;
  auto lossy = store_losing_answer([&](const std::string& op, std::size_t) {
    if (op != "UpdateItem" || lost_one) return false;
    lost_one = true;
    return true;
  });
  EXPECT_NO_THROW(lossy->remove_permit("s", "holder-1"));
  EXPECT_EQ(store_->count_permits("s"), 0U);
  EXPECT_THROW(store_->remove_permit("s", "holder-1"), LockNotOwnedError);
}

TEST_P(DynamoDbData, ACounterThatIsNotANumberIsAClearErrorAndNothingIsWritten) {
  put(table_, {{"key", {{"S", "k"}}}, {"expires_at", {{"N", "0"}}},
               {"fencing_token", {{"S", "seven"}}}});
  const auto what = message_of([&] { (void)store_->save_fenced("k", "owner-1", 30s); });
  EXPECT_THAT(what, HasSubstr("fencing_token"));
  EXPECT_THAT(what, HasSubstr("InvalidItem"));
  EXPECT_FALSE(get(table_, "k").contains("owner")) << get(table_, "k").dump();
  EXPECT_FALSE(store_->exists("k"));
}

TEST_P(DynamoDbData, ACounterPastTheTokenRangeGivesTheLockBack) {
  for (const std::string bad : {"18446744073709551615", "1e30", "-5", "2.5"}) {
    put(table_, {{"key", {{"S", "k"}}}, {"expires_at", {{"N", "0"}}},
                 {"fencing_token", {{"N", bad}}}});
    const auto what = message_of([&] { (void)store_->save_fenced("k", "owner-1", 30s); });
    EXPECT_THAT(what, HasSubstr("fencing_token")) << bad;
    EXPECT_THAT(what, HasSubstr("given back")) << bad;
    EXPECT_FALSE(store_->exists("k")) << bad << ": a lock without a token was left held";
    EXPECT_TRUE(store_->save("other", "owner-1", 30s)) << "other keys are not disturbed";
    store_->remove("other", "owner-1");
  }
  // Largest value that still works: the next one is 2^64-1.
  put(table_, {{"key", {{"S", "k"}}}, {"expires_at", {{"N", "0"}}},
               {"fencing_token", {{"N", "18446744073709551614"}}}});
  EXPECT_EQ(store_->save_fenced("k", "owner-1", 30s), 18446744073709551615ULL);
}

TEST_P(DynamoDbData, SemaphoreItemsWithForeignDataAreClearErrors) {
  // Made by the first semaphore call.
  EXPECT_EQ(store_->count_permits("warm-up"), 0U);
  const auto& table = store_->semaphore_table();
  const std::vector<json> items = {
      {{"key", {{"S", "s"}}}, {"holders", {{"S", "x"}}}, {"version", {{"N", "1"}}}},
      {{"key", {{"S", "s"}}}, {"holders", {{"M", {{"h", {{"S", "x"}}}}}}}, {"version", {{"N", "1"}}}},
      {{"key", {{"S", "s"}}},
       {"holders", {{"M", {{"h", {{"M", {{"limit", {{"N", "0"}}}}}}}}}}},
       {"version", {{"N", "1"}}}},
      {{"key", {{"S", "s"}}}, {"holders", {{"M", json::object()}}}, {"version", {{"N", "-1"}}}},
  };
  for (const auto& item : items) {
    put(table, item);
    EXPECT_THAT(message_of([&] { (void)store_->save_permit("s", "h2", 3, 30s); }),
                HasSubstr("semaphore item"))
        << item.dump();
    EXPECT_THAT(message_of([&] { (void)store_->count_permits("s"); }), HasSubstr("InvalidItem"))
        << item.dump();
  }
  // An item without a version (written by hand) is taken over.
  put(table, {{"key", {{"S", "s"}}}, {"holders", {{"M", json::object()}}}});
  EXPECT_TRUE(store_->save_permit("s", "h2", 3, 30s));
  EXPECT_EQ(store_->count_permits("s"), 1U);
}

TEST_P(DynamoDbData, SemaphoreDataIsKeptApartFromLocks) {
  ASSERT_TRUE(store_->save_permit("k", "holder-1", 2, 30s));
  EXPECT_TRUE(get(table_, "k").is_null()) << "a semaphore wrote into the lock table";
  const auto item = get(store_->semaphore_table(), "k");
  ASSERT_TRUE(item.is_object());
  EXPECT_TRUE(item["holders"]["M"].contains("holder-1")) << item.dump();
  EXPECT_EQ(item["holders"]["M"]["holder-1"]["M"]["limit"]["N"], "2");
  ASSERT_TRUE(store_->save("k", "owner-1", 30s));
  EXPECT_EQ(store_->count_permits("k"), 1U);
  store_->remove_permit("k", "holder-1");
  EXPECT_TRUE(store_->exists("k"));
  store_->remove("k", "owner-1");
}

TEST_P(DynamoDbData, ExpiredHoldersArePrunedByTheNextAcquisition) {
  ASSERT_TRUE(store_->save_permit("s", "short", 2, 300ms));
  ASSERT_TRUE(store_->save_permit("s", "long", 2, 30s));
  EXPECT_FALSE(store_->save_permit("s", "third", 2, 30s));
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(store_->count_permits("s"), 1U) << "an expired holder is not counted";
  ASSERT_TRUE(store_->save_permit("s", "third", 2, 30s));
  const auto holders = get(store_->semaphore_table(), "s")["holders"]["M"];
  std::set<std::string> names;
  for (const auto& [name, entry] : holders.items()) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"long", "third"})) << holders.dump();
  EXPECT_THROW(store_->remove_permit("s", "short"), LockNotOwnedError);
  EXPECT_THROW(store_->extend_permit("s", "short", 10s), LockNotOwnedError);
}

TEST_P(DynamoDbData, BadSemaphoreArgumentsAreRefusedBeforeAnyRequest) {
  EXPECT_THROW((void)store_->save_permit("s", "", 2, 30s), InvalidArgumentError);
  EXPECT_THROW((void)store_->save_permit("s", "h", 0, 30s), InvalidArgumentError);
  EXPECT_THROW((void)store_->save_permit(std::string("s\xff", 2), "h", 2, 30s),
               InvalidArgumentError);
  EXPECT_THROW((void)store_->save_permit("s", "h", 2, Duration{0}), InvalidArgumentError);
  EXPECT_THROW((void)store_->count_permits(""), InvalidArgumentError);
}

std::string server_name(const ::testing::TestParamInfo<Server (*)()>& info) {
  return info.param().name;
}

INSTANTIATE_TEST_SUITE_P(Servers, DynamoDbData, ::testing::Values(&dynalite, &dynamodb_local),
                         server_name);

}  // namespace
}  // namespace verrou::dynamodb_test
