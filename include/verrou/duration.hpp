// SPDX-License-Identifier: Apache-2.0
//
// duration.hpp: the time values of verrou-cpp.
//
// Every time value is a `verrou::Duration` (milliseconds). A TTL is a
// `std::optional<Duration>`, where `verrou::forever` (nullopt) means the lock never expires.
//
//   using namespace std::chrono_literals;
//   verrou::Duration a = 1500ms;
//   verrou::Duration b = verrou::parse_duration("1.5s");   // == a
//   std::optional<verrou::Duration> ttl = verrou::forever;
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/export.hpp"

namespace verrou {

/// Every time value of the library: whole milliseconds.
using Duration = std::chrono::milliseconds;

/// A TTL that never expires. A TTL is `std::optional<Duration>`; this is its empty value.
inline constexpr std::nullopt_t forever = std::nullopt;

/// The TTL of a lock created without one: 30 seconds, as in Verrou.
inline constexpr Duration kDefaultTtl{30'000};

/// The longest TTL accepted: 100 years (of 365.25 days). Longer is almost surely a unit mistake;
/// use `verrou::forever` for a lock that must never expire.
inline constexpr Duration kMaxTtl{3'155'760'000'000};

/// Parses a duration written as text.
///
/// Accepts a non-negative number (integer or decimal) followed by an optional unit:
/// `ms`, `s`, `m`, `h`, `d`, `w` and their long forms (`sec`, `secs`, `second(s)`, `min(s)`,
/// `minute(s)`, `hr(s)`, `hour(s)`, `day(s)`, `week(s)`, `millisecond(s)`, `msec(s)`), with
/// optional spaces between number and unit. A bare number is milliseconds: `"500"` is 500 ms.
/// Fractions are rounded to the nearest millisecond: `"1.5s"` is 1500 ms.
///
/// Throws `InvalidArgumentError` for empty or malformed text, a negative value, an unknown
/// unit, or a value too large to represent (more than `kMaxTtl` × 1000). Thread safety: pure.
VERROU_EXPORT Duration parse_duration(std::string_view text);

/// Parses a TTL: any text `parse_duration` accepts, or `"forever"` / `"never"` for a lock that
/// never expires. The value is not range-checked here; `validate_ttl` does that.
/// Throws `InvalidArgumentError` as `parse_duration` does. Thread safety: pure.
VERROU_EXPORT std::optional<Duration> parse_ttl(std::string_view text);

/// Checks that a TTL is usable: `forever`, or more than zero and at most `kMaxTtl`.
/// Throws `InvalidArgumentError` saying what was wrong and what is valid. Thread safety: pure.
VERROU_EXPORT void validate_ttl(std::optional<Duration> ttl);

/// Writes a duration for people: `"250ms"`, `"1.5s"`, `"2m"`, `"1h30m"`. Thread safety: pure.
VERROU_EXPORT std::string format_duration(Duration duration);

/// Milliseconds since the Unix epoch on the system clock: the unit of expiration times
/// written to stores and to `SerializedLock::expiration_time`.
VERROU_EXPORT std::int64_t epoch_ms_now();

}  // namespace verrou
