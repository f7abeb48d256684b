// SPDX-License-Identifier: Apache-2.0
// The shared text helpers (src/core/detail/text.hpp), table-driven.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "detail/text.hpp"

namespace verrou::detail {
namespace {

using namespace std::string_view_literals;

struct Utf8Case {
  std::string_view name;
  std::string_view bytes;
  bool utf8;
};

const std::vector<Utf8Case> kUtf8Cases = {
    {"empty", "", true},
    {"ascii", "invoice:42", true},
    {"two-byte letter", "caf\xC3\xA9", true},
    {"three-byte letter", "\xE2\x82\xAC", true},
    {"four-byte emoji", "\xF0\x9F\x94\x92", true},
    {"last code point U+10FFFF", "\xF4\x8F\xBF\xBF", true},
    {"U+FFFF", "\xEF\xBF\xBF", true},
    {"NUL is UTF-8", "a\0b"sv, true},
    {"stray continuation byte", "\x80", false},
    {"lead byte at the end", "ab\xC3", false},
    {"three-byte form cut short", "\xE2\x82", false},
    {"four-byte form cut short", "\xF0\x9F\x94", false},
    {"lead byte then ASCII", "\xC3(", false},
    {"overlong slash (2 bytes)", "\xC0\xAF", false},
    {"overlong NUL (2 bytes)", "\xC0\x80", false},
    {"overlong (3 bytes)", "\xE0\x80\xAF", false},
    {"overlong (4 bytes)", "\xF0\x80\x80\xAF", false},
    {"surrogate U+D800", "\xED\xA0\x80", false},
    {"surrogate U+DFFF", "\xED\xBF\xBF", false},
    {"past U+10FFFF", "\xF4\x90\x80\x80", false},
    {"five-byte lead", "\xF8\x88\x80\x80\x80", false},
    {"0xFF", "\xFF", false},
    {"Latin-1 text", "caf\xE9", false},
};

TEST(Text, Utf8Validation) {
  for (const auto& c : kUtf8Cases) {
    EXPECT_EQ(is_utf8(c.bytes), c.utf8) << c.name;
    // Text for the SQL columns: UTF-8 and no NUL.
    const bool has_nul = c.bytes.find('\0') != std::string_view::npos;
    EXPECT_EQ(is_utf8_text(c.bytes), c.utf8 && !has_nul) << c.name;
  }
}

TEST(Text, AsciiLowerFoldsOnlyAsciiLetters) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", ""},
      {"Redis+Cluster", "redis+cluster"},
      {"POSTGRESQL", "postgresql"},
      {"already lower 123", "already lower 123"},
      {"@[`{", "@[`{"},                          // the bytes beside 'A'-'Z' and 'a'-'z'
      {"\xC3\x89T\xC3\x89", "\xC3\x89t\xC3\x89"},  // "ÉTÉ": non-ASCII bytes untouched
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(ascii_lower(in), out) << in;
  EXPECT_EQ(ascii_lower('Z'), 'z');
  EXPECT_EQ(ascii_lower('z'), 'z');
  EXPECT_EQ(ascii_lower('\xC9'), '\xC9');
}

TEST(Text, StartsWithIgnoringCase) {
  struct Case {
    std::string_view text, prefix;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"PostgreSQL://h", "postgresql://", true},
      {"postgres://h", "postgresql://", false},
      {"PASSWORD=x", "password", true},
      {"pass", "password", false},
      {"anything", "", true},
      {"", "", true},
      {"", "a", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(starts_with_ignoring_case(c.text, c.prefix), c.expected)
        << c.text << " / " << c.prefix;
  }
}

TEST(Text, TrimAndTrimEnd) {
  const std::vector<std::pair<std::string_view, std::string_view>> both = {
      {"", ""},
      {"   ", ""},
      {"key", "key"},
      {" \t key = value \r\n", "key = value"},
      {"\r\n", ""},
  };
  for (const auto& [in, out] : both) EXPECT_EQ(trim(in), out) << '[' << in << ']';
  const std::vector<std::pair<std::string, std::string>> end = {
      {"", ""},
      {"could not connect\n", "could not connect"},
      {"  leading kept \t\r\n", "  leading kept"},
      {"\n\n", ""},
  };
  for (const auto& [in, out] : end) EXPECT_EQ(trim_end(in), out) << '[' << in << ']';
}

TEST(Text, QuoteEscapesAndCuts) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"k", "\"k\""},
      {"", "\"\""},
      {"a\"b", "\"a\\x22b\""},
      {"a\\b", "\"a\\x5cb\""},
      {std::string("nul\0", 4), "\"nul\\x00\""},
      {"\xC3\xA9", "\"\\xc3\\xa9\""},
      {"line\n", "\"line\\x0a\""},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(quote(in), out) << in;
  EXPECT_EQ(quote(std::string(100, 'x')), "\"" + std::string(80, 'x') + "…\"");
  EXPECT_EQ(quote("abcdef", 3), "\"abc…\"");
  EXPECT_EQ(quote("abc", 3), "\"abc\"");
}

TEST(Text, HexIsLowerCaseTwoDigitsAByte) {
  const unsigned char bytes[] = {0x00, 0x0f, 0x10, 0xab, 0xff};
  EXPECT_EQ(to_hex(bytes, sizeof bytes), "000f10abff");
  EXPECT_EQ(to_hex(bytes, 0), "");
}

}  // namespace
}  // namespace verrou::detail
