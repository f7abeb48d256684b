// SPDX-License-Identifier: Apache-2.0
// Reading the URL options the SQL drivers share (table, pool_size, timeouts).
#pragma once

#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "detail/url.hpp"
#include "verrou/duration.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {

inline std::size_t size_param(const Url& url, std::string_view name, std::size_t fallback,
                              std::size_t min, std::size_t max) {
  auto text = url.param(name);
  if (!text) return fallback;
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    throw InvalidArgumentError("invalid URL option " + std::string(name) + "=" + *text +
                               ": expected a whole number from " + std::to_string(min) +
                               " to " + std::to_string(max));
  }
  return value;
}

inline Duration duration_param(const Url& url, std::string_view name, Duration fallback) {
  auto text = url.param(name);
  if (!text) return fallback;
  Duration value{};
  try {
    value = parse_duration(*text);
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError("invalid URL option " + std::string(name) + "=" + *text + ": " +
                               e.what());
  }
  if (value <= Duration::zero()) {
    throw InvalidArgumentError("invalid URL option " + std::string(name) + "=" + *text +
                               ": expected a duration above zero, such as 5s or 500ms");
  }
  return value;
}

inline bool bool_param(const Url& url, std::string_view name, bool fallback) {
  auto text = url.param(name);
  return text ? parse_bool_param(name, *text) : fallback;
}

}  // namespace verrou::detail
