// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "verrou/duration.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsTheDocumentedForms) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("1s"), 1s);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("1d"), 24h);
  EXPECT_EQ(parse_duration("500"), 500ms);
  EXPECT_EQ(parse_duration("0"), 0ms);
  EXPECT_EQ(parse_duration("2w"), 14 * 24h);
}

TEST(ParseDuration, AcceptsLongUnitsSpacesAndCase) {
  EXPECT_EQ(parse_duration("10 seconds"), 10s);
  EXPECT_EQ(parse_duration(" 3 MIN "), 3min);
  EXPECT_EQ(parse_duration("2 hours"), 2h);
  EXPECT_EQ(parse_duration("1 day"), 24h);
  EXPECT_EQ(parse_duration("5 msecs"), 5ms);
  EXPECT_EQ(parse_duration(".5s"), 500ms);
  EXPECT_EQ(parse_duration("+7s"), 7s);
}

TEST(ParseDuration, RoundsFractionsToTheNearestMillisecond) {
  EXPECT_EQ(parse_duration("1.0004s"), 1000ms);
  EXPECT_EQ(parse_duration("1.0006s"), 1001ms);
  EXPECT_EQ(parse_duration("0.5ms"), 1ms);
  EXPECT_EQ(parse_duration("1.25m"), 75s);
}

TEST(ParseDuration, RejectsBadTextWithAClearMessage) {
  for (const char* bad : {"", "  ", "s", "abc", "1x", "1.5.5s", "-1s", "1e3", "10 s s", "ms5",
                          "1,5s", "0x10", "nan", "inf", "1 000"}) {
    try {
      parse_duration(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const InvalidArgumentError& e) {
      EXPECT_EQ(e.code(), "E_INVALID_ARGUMENT");
      EXPECT_NE(std::string(e.what()).find("invalid duration"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("250ms"), std::string::npos)
          << "the message should show valid forms: " << e.what();
    }
  }
}

TEST(ParseDuration, RejectsValuesTooLargeToRepresent) {
  EXPECT_THROW(parse_duration("99999999999999999999999"), InvalidArgumentError);
  EXPECT_THROW(parse_duration("1000000000w"), InvalidArgumentError);
  EXPECT_NO_THROW(parse_duration("36500d"));
}

TEST(ParseDuration, EscapesControlBytesInMessages) {
  try {
    parse_duration(std::string("1\x01s\xff", 4));
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("\\x01"), std::string::npos) << e.what();
  }
}

TEST(ParseTtl, AcceptsForever) {
  EXPECT_EQ(parse_ttl("forever"), forever);
  EXPECT_EQ(parse_ttl("Never"), forever);
  EXPECT_EQ(parse_ttl("10s"), std::optional<Duration>(10s));
}

TEST(ValidateTtl, RejectsZeroNegativeAndBeyondAHundredYears) {
  EXPECT_NO_THROW(validate_ttl(forever));
  EXPECT_NO_THROW(validate_ttl(1ms));
  EXPECT_NO_THROW(validate_ttl(kMaxTtl));
  EXPECT_THROW(validate_ttl(0ms), InvalidArgumentError);
  EXPECT_THROW(validate_ttl(-1s), InvalidArgumentError);
  EXPECT_THROW(validate_ttl(kMaxTtl + 1ms), InvalidArgumentError);
  EXPECT_THROW(validate_ttl(Duration::max()), InvalidArgumentError);
}

TEST(FormatDuration, WritesCompactText) {
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(1s), "1s");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(-5ms), "-5ms");
  for (Duration d : {1ms, 999ms, 1001ms, 59999ms}) {
    const auto text = format_duration(d);
    EXPECT_EQ(parse_duration(text), d) << text;
  }
}

}  // namespace
}  // namespace verrou
