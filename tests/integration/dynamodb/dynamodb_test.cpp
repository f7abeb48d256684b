// SPDX-License-Identifier: Apache-2.0
// The DynamoDB store's own tests: retries and error reports (against a scripted stand-in), and
// behaviour on dynalite and DynamoDB Local that the conformance suite does not cover: the
// table-creation race, items shared with Verrou, clear failures for a missing table, bad
// credentials and an unreachable endpoint. Options, URLs and credentials:
// dynamodb_options_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "drivers/dynamodb/client.hpp"
#include "drivers/dynamodb/credentials.hpp"
#include "drivers/dynamodb/sigv4.hpp"
#include "dynamodb_test_support.hpp"
#include "fake_dynamodb.hpp"
#include "verrou/drivers/dynamodb.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"
#include "verrou/testing/server.hpp"

// This program links verrou::testing for its server helpers, not for the suite.
namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace verrou::conformance

namespace verrou::dynamodb_test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Retries and error reports, against a scripted stand-in

DynamoDbStoreOptions fake_options(const FakeDynamoDb& fake) {
  return {.table = "verrou_fake",
          .endpoint = fake.endpoint(),
          .credentials = AwsCredentials{"FAKEKEY", "fakesecret", "faketoken"},
          .create_table = false,
          .retry_deadline = 2s};
}

// What DynamoDB answers an acquisition: the item's counter after it.
FakeDynamoDb::Response acquired(const std::string& token) {
  return {200, R"({"Attributes":{"fencing_token":{"N":")" + token + R"("}}})"};
}

TEST(DynamoDbRetries, ThrottlingIsRetriedWithTheSameRequest) {
  FakeDynamoDb fake({FakeDynamoDb::error(400, "ThrottlingException", "slow down"),
                     FakeDynamoDb::error(400, "ProvisionedThroughputExceededException", "slow"),
                     FakeDynamoDb::error(400, "RequestLimitExceeded", "slower"),
                     acquired("7")});
  DynamoDbStore store(fake_options(fake));
  EXPECT_TRUE(store.save("k", "owner", 10s));
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 4U);
  // A retried save resends the same write id, so it can recognise its own earlier write.
  for (const auto& r : seen) EXPECT_EQ(r.body, seen.front().body);
}

TEST(DynamoDbRetries, ServerErrorsAreRetriedUntilTheDeadline) {
  FakeDynamoDb fake({FakeDynamoDb::error(500, "InternalServerError", "boom")});
  auto options = fake_options(fake);
  options.retry_deadline = 300ms;
  DynamoDbStore store(options);
  const auto start = std::chrono::steady_clock::now();
  const std::string what = message_of([&] { (void)store.exists("k"); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_THAT(what, HasSubstr("InternalServerError: boom"));
  EXPECT_THAT(what, HasSubstr("GetItem"));
  EXPECT_THAT(what, HasSubstr("verrou_fake"));
  EXPECT_THAT(what, HasSubstr(fake.endpoint()));
  EXPECT_THAT(what, HasSubstr("attempts"));
  EXPECT_GT(fake.requests().size(), 1U);
  EXPECT_THROW((void)store.exists("k"), LockStorageError);
}

TEST(DynamoDbRetries, OtherErrorsFailAtOnceWithTypeAndMessage) {
  FakeDynamoDb fake({FakeDynamoDb::error(400, "ValidationException", "One or more parameter "
                                                                     "values were invalid")});
  DynamoDbStore store(fake_options(fake));
  try {
    store.force_remove("k");
    FAIL() << "no error";
  } catch (const LockStorageError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("ValidationException: One or more parameter"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("UpdateItem"));
  }
  EXPECT_EQ(fake.requests().size(), 1U);
}

TEST(DynamoDbRetries, ConditionalCheckFailureIsTheLockOutcome) {
  FakeDynamoDb fake({FakeDynamoDb::error(400, "ConditionalCheckFailedException", "failed")});
  DynamoDbStore store(fake_options(fake));
  EXPECT_FALSE(store.save("k", "owner", 10s));
  EXPECT_THROW(store.remove("k", "owner"), LockNotOwnedError);
  EXPECT_THROW(store.extend("k", "owner", 10s), LockNotOwnedError);
  EXPECT_EQ(fake.requests().size(), 3U);
}

TEST(DynamoDbRetries, ReleaseWhoseFirstAnswerWasLostSucceeds) {
  // The 500 may have deleted the item; the retry then finds it gone. The owner does not hold
  // the lock either way, which is what release promises.
  FakeDynamoDb fake({FakeDynamoDb::error(500, "InternalServerError", "lost"),
                     FakeDynamoDb::error(400, "ConditionalCheckFailedException", "gone")});
  DynamoDbStore store(fake_options(fake));
  EXPECT_NO_THROW(store.remove("k", "owner"));
  EXPECT_EQ(fake.requests().size(), 2U);
}

TEST(DynamoDbRetries, UnparsableAnswersAreStorageErrors) {
  FakeDynamoDb fake({{200, "<html>proxy</html>"}});
  DynamoDbStore store(fake_options(fake));
  EXPECT_THAT(message_of([&] { (void)store.exists("k"); }), HasSubstr("InvalidResponse"));
}

TEST(DynamoDbRequests, AreSignedAsSent) {
  FakeDynamoDb fake({{200, "{}"}});
  DynamoDbStore store(fake_options(fake));
  store.force_remove("k");
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 1U);
  const auto& r = seen.front();
  EXPECT_EQ(r.first_line, "POST / HTTP/1.1");
  EXPECT_EQ(r.headers.at("x-amz-target"), "DynamoDB_20120810.UpdateItem");
  EXPECT_EQ(r.headers.at("content-type"), "application/x-amz-json-1.0");
  EXPECT_EQ(r.headers.at("x-amz-security-token"), "faketoken");
  const std::string& authorization = r.headers.at("authorization");
  const std::string date = r.headers.at("x-amz-date");
  EXPECT_THAT(authorization, HasSubstr("Credential=FAKEKEY/" + date.substr(0, 8) +
                                       "/us-east-1/dynamodb/aws4_request"));
  // Signing what arrived reproduces the signature: the Host header and body were sent as
  // they were signed.
  detail::sigv4::Request received{
      .method = "POST",
      .path = "/",
      .query = {},
      .headers = {{"Content-Type", r.headers.at("content-type")},
                  {"Host", r.headers.at("host")},
                  {"X-Amz-Date", date},
                  {"X-Amz-Target", r.headers.at("x-amz-target")},
                  {"X-Amz-Security-Token", r.headers.at("x-amz-security-token")}},
      .payload = r.body,
  };
  const auto expected = detail::sigv4::sign(received, {"FAKEKEY", "fakesecret", "faketoken"},
                                            "us-east-1", "dynamodb", date);
  EXPECT_EQ(authorization, expected.authorization);
  EXPECT_THAT(authorization,
              HasSubstr("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                        "x-amz-target,"));
}

TEST(DynamoDbRequests, SaveWritesVerrouShapedItemsAndCountsInTheSameWrite) {
  FakeDynamoDb fake({acquired("41"), acquired("42")});
  DynamoDbStore store(fake_options(fake));
  const auto before = epoch_ms_now();
  EXPECT_EQ(store.save_fenced("invoice:42", "owner-1", 10s), 41U);
  EXPECT_EQ(store.save_fenced("forever", "owner-2", forever), 42U);
  const auto after = epoch_ms_now();
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].headers.at("x-amz-target"), "DynamoDB_20120810.UpdateItem");
  const json update = json::parse(seen[0].body);
  EXPECT_EQ(update["TableName"], "verrou_fake");
  EXPECT_EQ(update["Key"]["key"]["S"], "invoice:42");
  EXPECT_EQ(update["ExpressionAttributeValues"][":o"]["S"], "owner-1");
  const auto expires = std::stoll(update["ExpressionAttributeValues"][":e"]["N"].get<std::string>());
  EXPECT_GE(expires, before + 10'000);
  EXPECT_LE(expires, after + 10'000);
  // The counter is raised by the write that takes the lock, never by a second request.
  const auto expression = update["UpdateExpression"].get<std::string>();
  EXPECT_THAT(expression, HasSubstr("#f = if_not_exists(#f, :base) + :one"));
  EXPECT_EQ(update["ExpressionAttributeNames"]["#f"], "fencing_token");
  EXPECT_EQ(update["ExpressionAttributeNames"]["#e"], "expires_at");
  EXPECT_EQ(update["ReturnValues"], "UPDATED_NEW");
  EXPECT_THAT(update["ConditionExpression"].get<std::string>(), HasSubstr("attribute_not_exists"));
  // A counter that starts at the time in microseconds (see fencing_base).
  const auto base = std::stoll(update["ExpressionAttributeValues"][":base"]["N"].get<std::string>());
  EXPECT_GE(base, before * 1000);
  EXPECT_LE(base, (after + 1) * 1000);
  const json forever_update = json::parse(seen[1].body);
  EXPECT_THAT(forever_update["UpdateExpression"].get<std::string>(), HasSubstr("REMOVE #e"));
  EXPECT_FALSE(forever_update["ExpressionAttributeValues"].contains(":e"));
}

TEST(DynamoDbRequests, ReleaseLeavesAFreeItemThatKeepsTheCounter) {
  FakeDynamoDb fake({{200, "{}"}});
  DynamoDbStore store(fake_options(fake));
  store.remove("k", "owner-1");
  store.force_remove("k");
  const auto seen = fake.requests();
  ASSERT_EQ(seen.size(), 2U);
  for (const auto& r : seen) {
    EXPECT_EQ(r.headers.at("x-amz-target"), "DynamoDB_20120810.UpdateItem");
    const json update = json::parse(r.body);
    EXPECT_EQ(update["UpdateExpression"], "SET #e = :free REMOVE #o, #w");
    EXPECT_EQ(update["ExpressionAttributeValues"][":free"]["N"], "0");
  }
  EXPECT_THAT(json::parse(seen[0].body)["ConditionExpression"].get<std::string>(),
              HasSubstr("#o = :o"));
  EXPECT_EQ(json::parse(seen[1].body)["ConditionExpression"], "attribute_exists(#k)");
}

TEST(DynamoDbRequests, AnUnreadableTokenGivesTheLockBackAndSaysWhy) {
  // The write took the lock but the counter it returned is no uint64 (a stored
  // fencing_token of 1.5 or 2^70 would do it): the store gives the lock back, then throws.
  for (const std::string answer : {R"({"Attributes":{"fencing_token":{"N":"1.5"}}})",
                                   R"({"Attributes":{"fencing_token":{"N":"-3"}}})",
                                   R"({"Attributes":{"fencing_token":{"N":"1180591620717411303424"}}})",
                                   R"({"Attributes":{"fencing_token":{"S":"7"}}})",
                                   R"({})"}) {
    FakeDynamoDb fake({{200, answer}, {200, "{}"}});
    DynamoDbStore store(fake_options(fake));
    const std::string what = message_of([&] { (void)store.save_fenced("k", "owner-1", 10s); });
    EXPECT_THAT(what, HasSubstr("fencing_token")) << answer;
    EXPECT_THAT(what, HasSubstr("given back")) << answer;
    const auto seen = fake.requests();
    ASSERT_EQ(seen.size(), 2U) << answer;
    const json save = json::parse(seen[0].body);
    const json undo = json::parse(seen[1].body);
    EXPECT_EQ(undo["UpdateExpression"], "SET #e = :free REMOVE #o, #w");
    EXPECT_EQ(undo["ConditionExpression"], "#w = :w") << "only this save's own write is undone";
    EXPECT_EQ(undo["ExpressionAttributeValues"][":w"], save["ExpressionAttributeValues"][":w"]);
  }
}

// ---------------------------------------------------------------------------------------------
// Unreachable endpoint

std::string closed_port_endpoint() {
  // A port that was just free: bind, read the port, close.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t size = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

TEST(DynamoDbErrors, UnreachableEndpointIsAClearStorageError) {
  const std::string endpoint = closed_port_endpoint();
  DynamoDbStoreOptions options{.endpoint = endpoint,
                               .credentials = test_credentials(),
                               .retry_deadline = 200ms};
  const auto start = std::chrono::steady_clock::now();
  try {
    DynamoDbStore store(options);
    FAIL() << "a store was made on a closed port";
  } catch (const LockStorageError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("cannot reach DynamoDB"));
    EXPECT_THAT(std::string(e.what()), HasSubstr(endpoint));
    EXPECT_THAT(std::string(e.what()), HasSubstr("DescribeTable"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  options.create_table = false;
  DynamoDbStore store(options);
  EXPECT_THROW((void)store.save("k", "o", 1s), LockStorageError);
  EXPECT_THROW((void)store.exists("k"), LockStorageError);
}

// ---------------------------------------------------------------------------------------------
// On the real servers

class DynamoDbServer : public ::testing::TestWithParam<Server (*)()> {
 protected:
  void SetUp() override {
    server_ = GetParam()();
    if (auto why = unavailable(server_)) VERROU_SKIP_OR_FAIL(*why);
  }

  [[nodiscard]] DynamoDbStoreOptions options(const std::string& table) const {
    auto o = options_for(server_);
    o.table = table;
    return o;
  }

  [[nodiscard]] std::unique_ptr<detail::dynamodb::Client> raw_client() const {
    const auto o = options_for(server_);
    return std::make_unique<detail::dynamodb::Client>(detail::dynamodb::ClientOptions{
        .endpoint = o.endpoint,
        .region = o.region.empty() ? "us-east-1" : o.region,
        .credentials = {test_credentials().access_key_id, test_credentials().secret_access_key,
                        ""}});
  }

  Server server_;
};

TEST_P(DynamoDbServer, TableCreationRaceIsHarmless) {
  const std::string table = unique_table("race");
  constexpr int kStores = 6;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kStores);
  std::vector<std::shared_ptr<DynamoDbStore>> stores(kStores);
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      try {
        stores[static_cast<std::size_t>(i)] = std::make_shared<DynamoDbStore>(options(table));
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStores; ++i) {
    const auto n = static_cast<std::size_t>(i);
    ASSERT_EQ(errors[n], "") << "store " << i;
    ASSERT_TRUE(stores[n]->save("k" + std::to_string(i), "o", 30s));
  }
  // One lock, seen by every store.
  EXPECT_FALSE(stores[1]->save("k0", "other", 30s));
  EXPECT_TRUE(stores[2]->exists("k0"));

  const auto described = raw_client()->call("DescribeTable", {{"TableName", table}});
  ASSERT_TRUE(described.ok()) << described.error_type << ": " << described.message;
  const auto& t = described.body["Table"];
  EXPECT_EQ(t["TableStatus"], "ACTIVE");
  EXPECT_EQ(t["KeySchema"][0]["AttributeName"], "key");
  EXPECT_EQ(t["KeySchema"][0]["KeyType"], "HASH");
  EXPECT_EQ(t["AttributeDefinitions"][0]["AttributeType"], "S");
  (void)raw_client()->call("DeleteTable", {{"TableName", table}});
}

TEST_P(DynamoDbServer, ItemsWrittenByVerrouAreHonoured) {
  const std::string table = unique_table("interop");
  DynamoDbStore store(options(table));
  auto client = raw_client();
  auto put = [&](const std::string& key, std::optional<std::int64_t> expires_at) {
    json item = {{"key", {{"S", key}}}, {"owner", {{"S", "node-owner"}}}};
    if (expires_at) item["expires_at"] = {{"N", std::to_string(*expires_at)}};
    const auto r = client->call("PutItem", {{"TableName", table}, {"Item", item}});
    ASSERT_TRUE(r.ok()) << r.error_type << ": " << r.message;
  };
  // As @verrou/core writes them: key, owner, expires_at in epoch ms (or none: forever).
  put("held", epoch_ms_now() + 60'000);
  put("held-forever", std::nullopt);
  put("expired", epoch_ms_now() - 1'000);

  EXPECT_TRUE(store.exists("held"));
  EXPECT_FALSE(store.save("held", "cpp-owner", 10s));
  EXPECT_THROW(store.remove("held", "cpp-owner"), LockNotOwnedError);
  EXPECT_THROW(store.extend("held", "cpp-owner", 10s), LockNotOwnedError);
  EXPECT_NO_THROW(store.extend("held", "node-owner", 10s));
  EXPECT_NO_THROW(store.remove("held", "node-owner"));
  EXPECT_FALSE(store.exists("held"));

  EXPECT_TRUE(store.exists("held-forever"));
  EXPECT_FALSE(store.save("held-forever", "cpp-owner", 10s));

  EXPECT_FALSE(store.exists("expired"));
  EXPECT_TRUE(store.save("expired", "cpp-owner", 10s));
  EXPECT_THROW(store.remove("expired", "node-owner"), LockNotOwnedError);

  // And what we write, Verrou reads: key and owner strings, expires_at a number.
  const auto got = client->call(
      "GetItem",
      {{"TableName", table}, {"Key", {{"key", {{"S", "expired"}}}}}, {"ConsistentRead", true}});
  ASSERT_TRUE(got.ok());
  const auto& item = got.body["Item"];
  EXPECT_EQ(item["key"]["S"], "expired");
  EXPECT_EQ(item["owner"]["S"], "cpp-owner");
  const auto expires = std::stoll(item["expires_at"]["N"].get<std::string>());
  EXPECT_NEAR(static_cast<double>(expires), static_cast<double>(epoch_ms_now() + 10'000), 5'000);
  (void)client->call("DeleteTable", {{"TableName", table}});
}

TEST_P(DynamoDbServer, ExpiryIsComparedAsANumber) {
  // As strings "999…" > "1000…"; as numbers an expiry 13 digits long is later than one of 12.
  const std::string table = unique_table("numbers");
  DynamoDbStore store(options(table));
  auto client = raw_client();
  const auto r = client->call(
      "PutItem", {{"TableName", table},
                  {"Item", {{"key", {{"S", "k"}}}, {"owner", {{"S", "a"}}},
                            {"expires_at", {{"N", std::to_string(epoch_ms_now() + 3'600'000)}}}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(store.save("k", "b", 10s));
  const auto r2 = client->call(
      "PutItem", {{"TableName", table},
                  {"Item", {{"key", {{"S", "k2"}}}, {"owner", {{"S", "a"}}},
                            {"expires_at", {{"N", "999999999999"}}}}}});  // 2001: expired
  ASSERT_TRUE(r2.ok());
  EXPECT_TRUE(store.save("k2", "b", 10s));
  (void)client->call("DeleteTable", {{"TableName", table}});
}

TEST_P(DynamoDbServer, ARetriedSaveRecognisesItsOwnWriteAndNothingElse) {
  // Capture the UpdateItem a save sends, then replay it on the real server as a retry after a
  // lost answer would: the replay succeeds while the item is its own write, and never
  // overwrites a lock written since by anyone else.
  FakeDynamoDb fake({acquired("1")});
  DynamoDbStore capturing(fake_options(fake));
  ASSERT_TRUE(capturing.save("k", "owner-a", 30s));
  json put = json::parse(fake.requests().at(0).body);
  const std::string table = unique_table("retry");
  put["TableName"] = table;

  DynamoDbStore store(options(table));
  auto client = raw_client();
  const auto first = client->call("UpdateItem", put);
  ASSERT_TRUE(first.ok()) << first.error_type << ": " << first.message;
  const auto replay = client->call("UpdateItem", put);
  EXPECT_TRUE(replay.ok()) << "a retry of the same save must see its own write: "
                           << replay.error_type;
  EXPECT_FALSE(store.save("k", "owner-b", 30s));
  store.remove("k", "owner-a");
  ASSERT_TRUE(store.save("k", "owner-b", 30s));
  const auto late = client->call("UpdateItem", put);
  EXPECT_EQ(late.error_type, "ConditionalCheckFailedException")
      << "a stale retry overwrote another owner's lock";
  EXPECT_THROW(store.remove("k", "owner-a"), LockNotOwnedError);
  EXPECT_NO_THROW(store.remove("k", "owner-b"));
  (void)client->call("DeleteTable", {{"TableName", table}});
}

TEST_P(DynamoDbServer, KeysThatAreNotUtf8AreRefused) {
  DynamoDbStore store(options_for(server_));
  EXPECT_THROW((void)store.save(std::string("k\xff\xfe", 3), "o", 10s), InvalidArgumentError);
  EXPECT_THROW((void)store.exists(std::string("k\xc3", 2)), InvalidArgumentError);
}

TEST_P(DynamoDbServer, MissingTableWithoutCreationIsAClearError) {
  auto o = options(unique_table("missing"));
  o.create_table = false;
  DynamoDbStore store(o);
  const std::string what = message_of([&] { (void)store.save("k", "o", 10s); });
  EXPECT_THAT(what, HasSubstr("ResourceNotFoundException"));
  EXPECT_THAT(what, HasSubstr(o.table));
}

// dynalite accepts any access key; DynamoDB Local refuses malformed ones, as AWS refuses
// unknown ones.
TEST(DynamoDbLocal, BadCredentialsAreReported) {
  const Server server = dynamodb_local();
  if (auto why = unavailable(server)) VERROU_SKIP_OR_FAIL(*why);
  auto o = options_for(server);
  o.table = unique_table("badcreds");
  o.credentials = AwsCredentials{"not a valid key!", "secret", ""};
  const std::string what = message_of([&] { DynamoDbStore store(o); });
  EXPECT_THAT(what, HasSubstr("UnrecognizedClientException"));
  EXPECT_THAT(what, HasSubstr("check the AWS credentials"));
}

TEST_P(DynamoDbServer, ManyThreadsShareOneStore) {
  auto store = std::make_shared<DynamoDbStore>(options_for(server_));
  LockFactory locks(store);
  constexpr int kThreads = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const std::string prefix = "verrou-threads:" + conformance::unique_suffix() + ":";
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto lock = locks.create_lock(prefix + std::to_string(t), 30s);
        if (!lock.acquire_immediately()) failures++;
        lock.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

std::string server_name(const ::testing::TestParamInfo<Server (*)()>& info) {
  return info.param().name;
}

INSTANTIATE_TEST_SUITE_P(Servers, DynamoDbServer, ::testing::Values(&dynalite, &dynamodb_local),
                         server_name);

}  // namespace
}  // namespace verrou::dynamodb_test
