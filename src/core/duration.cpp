// SPDX-License-Identifier: Apache-2.0
#include "verrou/duration.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};

constexpr std::array kUnits{
    Unit{"ms", 1},          Unit{"msec", 1},       Unit{"msecs", 1},
    Unit{"millisecond", 1}, Unit{"milliseconds", 1},
    Unit{"s", 1000},        Unit{"sec", 1000},     Unit{"secs", 1000},
    Unit{"second", 1000},   Unit{"seconds", 1000},
    Unit{"m", 60'000},      Unit{"min", 60'000},   Unit{"mins", 60'000},
    Unit{"minute", 60'000}, Unit{"minutes", 60'000},
    Unit{"h", 3'600'000},   Unit{"hr", 3'600'000}, Unit{"hrs", 3'600'000},
    Unit{"hour", 3'600'000}, Unit{"hours", 3'600'000},
    Unit{"d", 86'400'000},  Unit{"day", 86'400'000}, Unit{"days", 86'400'000},
    Unit{"w", 604'800'000}, Unit{"week", 604'800'000}, Unit{"weeks", 604'800'000},
};

constexpr std::string_view kValidForms =
    "write a number with an optional unit, e.g. \"250ms\", \"1.5s\", \"2m\", \"1h\", \"1d\" "
    "or \"500\" (milliseconds)";

// Shown cut to this many bytes: a mistyped duration is short, a pasted file is not.
constexpr std::size_t kMaxShown = 64;

[[noreturn]] void bad_duration(std::string_view text, std::string_view why) {
  throw InvalidArgumentError("invalid duration " + detail::quote(text, kMaxShown) + ": " +
                             std::string(why) + "; " + std::string(kValidForms));
}

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Duration parse_duration(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.empty()) bad_duration(text, "it is empty");
  if (s.front() == '-') bad_duration(text, "durations cannot be negative");
  if (s.front() == '+') s.remove_prefix(1);

  // Whole and fractional digits, kept as integers to avoid floating-point surprises.
  std::size_t i = 0;
  std::uint64_t whole = 0;
  bool any_digit = false;
  constexpr std::uint64_t kWholeLimit = 1'000'000'000'000'000ULL;  // far past any unit × kMaxTtl
  while (i < s.size() && is_digit(s[i])) {
    whole = whole * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (whole > kWholeLimit) bad_duration(text, "the number is too large");
    any_digit = true;
    ++i;
  }
  std::uint64_t frac = 0;
  std::uint64_t frac_scale = 1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) {
      if (frac_scale < 1'000'000'000'000ULL) {  // digits past 12 places cannot matter
        frac = frac * 10 + static_cast<std::uint64_t>(s[i] - '0');
        frac_scale *= 10;
      }
      any_digit = true;
      ++i;
    }
  }
  if (!any_digit) bad_duration(text, "it does not start with a number");
  while (i < s.size() && is_space(s[i])) ++i;
  std::string unit_text(s.substr(i));
  for (char& c : unit_text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }

  std::int64_t unit_ms = 1;
  if (!unit_text.empty()) {
    bool found = false;
    for (const auto& unit : kUnits) {
      if (unit.name == unit_text) {
        unit_ms = unit.ms;
        found = true;
        break;
      }
    }
    if (!found) bad_duration(text, "unknown unit " + detail::quote(unit_text, kMaxShown));
  }

  const auto unit = static_cast<std::uint64_t>(unit_ms);
  constexpr auto kLimit = static_cast<std::uint64_t>(kMaxTtl.count()) * 1000U;
  if (whole > kLimit / unit) bad_duration(text, "it is too large");
  std::uint64_t total = whole * unit;
  // Fraction × unit, rounded to the nearest millisecond (unit ≤ 6.05e8, frac < 1e12: fits).
  const long double frac_ms = static_cast<long double>(frac) * static_cast<long double>(unit) /
                              static_cast<long double>(frac_scale);
  total += static_cast<std::uint64_t>(std::llround(frac_ms));
  if (total > kLimit) bad_duration(text, "it is too large");
  return Duration(static_cast<std::int64_t>(total));
}

std::optional<Duration> parse_ttl(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (lowered == "forever" || lowered == "never") return forever;
  return parse_duration(text);
}

void validate_ttl(std::optional<Duration> ttl) {
  if (!ttl) return;
  if (ttl->count() <= 0) {
    throw InvalidArgumentError("invalid TTL " + std::to_string(ttl->count()) +
                               "ms: a TTL must be more than zero; use verrou::forever for a "
                               "lock that never expires");
  }
  if (*ttl > kMaxTtl) {
    throw InvalidArgumentError("invalid TTL " + std::to_string(ttl->count()) +
                               "ms: a TTL may be at most 100 years; use verrou::forever for a "
                               "lock that never expires");
  }
}

std::string format_duration(Duration duration) {
  std::int64_t ms = duration.count();
  std::string sign;
  if (ms < 0) {
    sign = "-";
    ms = -ms;
  }
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  if (ms < 60'000) {
    std::string out = sign + std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
      std::string frac = std::to_string(1000 + ms % 1000).substr(1);
      while (frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    return out + "s";
  }
  std::string out = sign;
  const std::int64_t days = ms / 86'400'000;
  const std::int64_t hours = ms / 3'600'000 % 24;
  const std::int64_t minutes = ms / 60'000 % 60;
  const std::int64_t seconds = ms / 1000 % 60;
  if (days) out += std::to_string(days) + "d";
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (seconds) out += std::to_string(seconds) + "s";
  return out;
}

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace verrou
