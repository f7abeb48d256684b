// SPDX-License-Identifier: Apache-2.0
// Reading a store URL's options (durations, whole numbers, booleans) and checking the durations
// of a store's options struct: one parser and one wording for every driver.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "detail/text.hpp"
#include "detail/url.hpp"
#include "verrou/duration.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {

// Whether a duration option may be zero (a retry deadline of 0: no retry) or must be above it
// (a timeout of 0 would fail every operation).
enum class ZeroDuration { refused, allowed };

// "invalid <scheme> URL option <name>", the start of every message about a URL option.
inline std::string url_option_prefix(const Url& url, std::string_view name) {
  return "invalid " + (url.scheme.empty() ? std::string() : url.scheme + " ") + "URL option " +
         std::string(name);
}

// The text of option `name` (or of another part of the URL named so) as a whole number from
// `min` to `max`; anything else throws InvalidArgumentError.
inline std::int64_t whole_number_option(const Url& url, std::string_view name,
                                        std::string_view text, std::int64_t min,
                                        std::int64_t max) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    throw InvalidArgumentError(url_option_prefix(url, name) + "=" + quote(text, 64) +
                               ": expected a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max));
  }
  return value;
}

// Option `name` as a count from `min` to `max`, or `fallback` when the URL does not give it.
inline std::size_t size_param(const Url& url, std::string_view name, std::size_t fallback,
                              std::size_t min, std::size_t max) {
  const auto text = url.param(name);
  if (!text) return fallback;
  return static_cast<std::size_t>(whole_number_option(
      url, name, *text, static_cast<std::int64_t>(min), static_cast<std::int64_t>(max)));
}

// Option `name` as a duration (see parse_duration), or `fallback` when the URL does not give it.
// Text that is no duration, a negative one, and zero unless `zero` allows it throw
// InvalidArgumentError.
inline Duration duration_param(const Url& url, std::string_view name, Duration fallback,
                               ZeroDuration zero = ZeroDuration::refused) {
  const auto text = url.param(name);
  if (!text) return fallback;
  Duration value{};
  try {
    value = parse_duration(*text);
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError(url_option_prefix(url, name) + ": " + e.what());
  }
  if (value < Duration::zero() || (value == Duration::zero() && zero == ZeroDuration::refused)) {
    throw InvalidArgumentError(url_option_prefix(url, name) + "=" + quote(*text, 64) +
                               (zero == ZeroDuration::refused ? ": must be more than 0 ms"
                                                              : ": must be 0 ms or more") +
                               ", e.g. 500ms or 2s");
  }
  return value;
}

// Option `name` as a boolean (see parse_bool_param), or `fallback` when the URL does not give it.
inline bool bool_param(const Url& url, std::string_view name, bool fallback) {
  const auto text = url.param(name);
  return text ? parse_bool_param(name, *text) : fallback;
}

// Checks a duration of an options struct, `what` naming it (e.g. "RedisConnection::
// command_timeout"): negative, or zero unless `zero` allows it, throws InvalidArgumentError.
inline void check_duration(std::string_view what, Duration value,
                           ZeroDuration zero = ZeroDuration::refused) {
  if (value > Duration::zero() || (value == Duration::zero() && zero == ZeroDuration::allowed)) {
    return;
  }
  throw InvalidArgumentError(std::string(what) + " is " + std::to_string(value.count()) +
                             " ms; it " +
                             (zero == ZeroDuration::refused ? "must be more than 0 ms"
                                                            : "must be 0 ms or more"));
}

}  // namespace verrou::detail
