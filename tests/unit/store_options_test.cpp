// SPDX-License-Identifier: Apache-2.0
// Reading store URL options and checking option durations (src/core/detail/store_options.hpp):
// one parser and one wording for every driver, table-driven.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "detail/store_options.hpp"
#include "detail/url.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {
namespace {

using namespace std::chrono_literals;

// The message of the InvalidArgumentError `f` throws, or nullopt when it throws none.
template <class F>
std::optional<std::string> error_of(F f) {
  try {
    f();
  } catch (const InvalidArgumentError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

struct DurationCase {
  std::string query;             // after "redis://h?"
  ZeroDuration zero;
  std::optional<Duration> value;  // nullopt: refused
  std::string message_part;      // in the message when refused
};

TEST(StoreOptions, DurationParam) {
  const std::vector<DurationCase> cases = {
      {"", ZeroDuration::refused, 7s, ""},  // absent: the fallback
      {"t=250ms", ZeroDuration::refused, 250ms, ""},
      {"t=2s", ZeroDuration::refused, 2s, ""},
      {"t=1.5s", ZeroDuration::refused, 1500ms, ""},
      {"t=500", ZeroDuration::refused, 500ms, ""},
      {"t=0", ZeroDuration::refused, std::nullopt, "must be more than 0 ms"},
      {"t=0ms", ZeroDuration::refused, std::nullopt, "must be more than 0 ms"},
      {"t=0", ZeroDuration::allowed, 0ms, ""},
      {"t=-1s", ZeroDuration::allowed, std::nullopt, "invalid redis URL option t"},
      {"t=soon", ZeroDuration::refused, std::nullopt, "invalid duration \"soon\""},
      {"t=soon", ZeroDuration::allowed, std::nullopt, "invalid redis URL option t: "},
      {"t=", ZeroDuration::refused, std::nullopt, "invalid redis URL option t"},
  };
  for (const auto& c : cases) {
    const auto url = parse_url("redis://h?" + c.query);
    if (c.value) {
      EXPECT_EQ(duration_param(url, "t", 7s, c.zero), *c.value) << c.query;
    } else {
      const auto message = error_of([&] { (void)duration_param(url, "t", 7s, c.zero); });
      ASSERT_TRUE(message) << c.query << " was accepted";
      EXPECT_NE(message->find(c.message_part), std::string::npos) << *message;
      EXPECT_NE(message->find("invalid redis URL option t"), std::string::npos) << *message;
    }
  }
}

TEST(StoreOptions, WholeNumbersAndSizes) {
  const auto url = parse_url("postgres://h/db?pool_size=8&big=65&neg=-1&word=four&mixed=4x");
  EXPECT_EQ(size_param(url, "pool_size", 4, 1, 64), 8U);
  EXPECT_EQ(size_param(url, "absent", 4, 1, 64), 4U);
  for (const char* name : {"big", "neg", "word", "mixed"}) {
    const auto message = error_of([&] { (void)size_param(url, name, 4, 1, 64); });
    ASSERT_TRUE(message) << name << " was accepted";
    EXPECT_NE(message->find("invalid postgres URL option " + std::string(name) + "=\""),
              std::string::npos)
        << *message;
    EXPECT_NE(message->find("expected a whole number from 1 to 64"), std::string::npos)
        << *message;
  }
  EXPECT_EQ(whole_number_option(url, "db", "0", 0, 15), 0);
  EXPECT_EQ(whole_number_option(url, "db", "15", 0, 15), 15);
  EXPECT_TRUE(error_of([&] { (void)whole_number_option(url, "db", "16", 0, 15); }));
  EXPECT_TRUE(error_of([&] { (void)whole_number_option(url, "db", "", 0, 15); }));
  EXPECT_TRUE(error_of([&] { (void)whole_number_option(url, "db", " 1", 0, 15); }));
}

TEST(StoreOptions, BoolParam) {
  const auto url = parse_url("sqlite:///tmp/x.db?a=yes&b=OFF&c=maybe");
  EXPECT_TRUE(bool_param(url, "a", false));
  EXPECT_FALSE(bool_param(url, "b", true));
  EXPECT_TRUE(bool_param(url, "absent", true));
  EXPECT_THROW((void)bool_param(url, "c", true), InvalidArgumentError);
}

TEST(StoreOptions, CheckDuration) {
  struct Case {
    Duration value;
    ZeroDuration zero;
    std::optional<std::string> message;  // nullopt: accepted
  };
  const std::vector<Case> cases = {
      {1ms, ZeroDuration::refused, std::nullopt},
      {0ms, ZeroDuration::refused, "X::timeout is 0 ms; it must be more than 0 ms"},
      {-5ms, ZeroDuration::refused, "X::timeout is -5 ms; it must be more than 0 ms"},
      {0ms, ZeroDuration::allowed, std::nullopt},
      {-1ms, ZeroDuration::allowed, "X::timeout is -1 ms; it must be 0 ms or more"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(error_of([&] { check_duration("X::timeout", c.value, c.zero); }), c.message)
        << c.value.count();
  }
}

}  // namespace
}  // namespace verrou::detail
