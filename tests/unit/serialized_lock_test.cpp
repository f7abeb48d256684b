// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "verrou/errors.hpp"
#include "verrou/serialized_lock.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;

TEST(SerializedLock, WritesVerrousExactShape) {
  SerializedLock lock{.key = "invoice:42", .owner = "abc", .ttl = 30s,
                      .expiration_time = 1764151234567};
  EXPECT_EQ(lock.to_json(),
            R"({"key":"invoice:42","owner":"abc","ttl":30000,"expirationTime":1764151234567})");
  SerializedLock forever_lock{.key = "k", .owner = "o", .ttl = forever, .expiration_time = {}};
  EXPECT_EQ(forever_lock.to_json(), R"({"key":"k","owner":"o","ttl":null,"expirationTime":null})");
}

TEST(SerializedLock, RoundTrips) {
  SerializedLock lock{.key = "a \"quoted\" key é", .owner = "0123456789abcdef", .ttl = 1500ms,
                      .expiration_time = 42};
  EXPECT_EQ(SerializedLock::from_json(lock.to_json()), lock);
}

TEST(SerializedLock, ReadsWhatNodeWrites) {
  // JSON.stringify(lock.serialize()) from @verrou/core, member order and spacing aside.
  const auto lock = SerializedLock::from_json(
      R"({ "key": "k", "owner": "tz4a98xxat96iws9zmbrgj3a", "ttl": 30000.0,
           "expirationTime": 1764151234567, "extra": {"ignored": true} })");
  EXPECT_EQ(lock.key, "k");
  EXPECT_EQ(lock.owner, "tz4a98xxat96iws9zmbrgj3a");
  EXPECT_EQ(lock.ttl, Duration(30000));
  EXPECT_EQ(lock.expiration_time, 1764151234567);
  const auto no_ttl = SerializedLock::from_json(R"({"key":"k","owner":"o"})");
  EXPECT_EQ(no_ttl.ttl, std::nullopt);
  EXPECT_EQ(no_ttl.expiration_time, std::nullopt);
}

TEST(SerializedLock, RejectsMalformedAndHostileJson) {
  const std::string deep(100000, '[');
  const std::vector<std::string> bad = {
      "",
      "{",
      "null",
      "[]",
      "\"text\"",
      R"({"key":"k"})",
      R"({"owner":"o"})",
      R"({"key":"","owner":"o"})",
      R"({"key":"k","owner":""})",
      R"({"key":1,"owner":"o"})",
      R"({"key":"k","owner":["o"]})",
      R"({"key":"k","owner":"o","ttl":"30s"})",
      R"({"key":"k","owner":"o","ttl":-1})",
      R"({"key":"k","owner":"o","ttl":0})",
      R"({"key":"k","owner":"o","ttl":1.5})",
      R"({"key":"k","owner":"o","ttl":1e300})",
      R"({"key":"k","owner":"o","ttl":18446744073709551615})",
      R"({"key":"k","owner":"o","expirationTime":"soon"})",
      R"({"key":"k","owner":"o","expirationTime":-5})",
      R"({"key":"k","owner":"o","extra":[[[[[[[[[[[[1]]]]]]]]]]]})",
      R"({"key":"k","owner":"o"} trailing)",
      deep,
      std::string(70000, ' ') + R"({"key":"k","owner":"o"})",
      R"({"key":")" + std::string(2000, 'k') + R"(","owner":"o"})",
  };
  for (const auto& text : bad) {
    try {
      SerializedLock::from_json(text);
      ADD_FAILURE() << "accepted: " << text.substr(0, 80);
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find("invalid serialized lock"), std::string::npos);
    }
  }
}

TEST(SerializedLock, CarriesTheFencingTokenWhenThereIsOne) {
  SerializedLock lock{.key = "k", .owner = "o", .ttl = 30s, .expiration_time = 5,
                      .fencing_token = 18446744073709551615ULL};
  EXPECT_EQ(lock.to_json(),
            R"({"key":"k","owner":"o","ttl":30000,"expirationTime":5,)"
            R"("fencingToken":18446744073709551615})");
  EXPECT_EQ(SerializedLock::from_json(lock.to_json()), lock);
  lock.fencing_token.reset();
  EXPECT_EQ(lock.to_json(), R"({"key":"k","owner":"o","ttl":30000,"expirationTime":5})")
      << "no token: Verrou's exact shape";
  EXPECT_EQ(SerializedLock::from_json(R"({"key":"k","owner":"o","fencingToken":null})").fencing_token,
            std::nullopt);
  EXPECT_EQ(SerializedLock::from_json(R"({"key":"k","owner":"o","fencingToken":0})").fencing_token,
            0U);
  EXPECT_EQ(SerializedLock::from_json(R"({"key":"k","owner":"o","fencingToken":7.0})").fencing_token,
            7U);
}

TEST(SerializedLock, RejectsFencingTokensThatAreNotWholeNumbersInRange) {
  for (const char* token : {"-1", "1.5", "18446744073709551616", "1e30", "\"12\"", "true",
                            "[1]", "{}", "-0.5", "9007199254740993.0"}) {
    const std::string json = std::string(R"({"key":"k","owner":"o","fencingToken":)") + token + "}";
    EXPECT_THROW(SerializedLock::from_json(json), InvalidArgumentError) << json;
  }
}

TEST(SerializedLock, RefusesToWriteKeysJsonCannotCarry) {
  SerializedLock lock{.key = std::string("\xff\xfe"), .owner = "o", .ttl = 1s,
                      .expiration_time = {}};
  EXPECT_THROW((void)lock.to_json(), InvalidArgumentError);
}

}  // namespace
}  // namespace verrou
