// SPDX-License-Identifier: Apache-2.0
#include "drivers/dynamodb/items.hpp"

#include <charconv>
#include <cmath>
#include <exception>

#include "verrou/errors.hpp"
#include "verrou/store.hpp"

namespace verrou::detail::dynamodb {
namespace {

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0U) {
      extra = 1;
      code = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      extra = 2;
      code = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      extra = 3;
      code = c & 0x07U;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0U) != 0x80U) return false;
      code = (code << 6U) | (next & 0x3FU);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
        (extra == 3 && code < 0x10000) || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

nlohmann::json str(const std::string& value) { return nlohmann::json{{"S", value}}; }
nlohmann::json num(std::int64_t value) { return nlohmann::json{{"N", std::to_string(value)}}; }

void check_key(const std::string& key) {
  validate_key(key);
  if (!valid_utf8(key)) {
    throw InvalidArgumentError(
        "DynamoDB store: the key is not valid UTF-8; DynamoDB keys are strings, so use UTF-8 "
        "text (encode binary keys, e.g. as hex)");
  }
}

bool valid_table_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::int64_t> parse_epoch_ms(const std::string& text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc() && ptr == end) return value;
  try {
    std::size_t used = 0;
    const double d = std::stod(text, &used);
    // Only values an int64 holds: converting anything else is undefined behaviour.
    constexpr double kLimit = 9.2e18;
    if (used == text.size() && std::isfinite(d) && d > -kLimit && d < kLimit) {
      return static_cast<std::int64_t>(std::floor(d));
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_counter(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<std::string> number_attribute(const nlohmann::json& item, const char* name) {
  if (!item.is_object()) return std::nullopt;
  const auto attribute = item.find(name);
  if (attribute == item.end()) return std::nullopt;
  if (!attribute->is_object()) return std::string();
  const auto number = attribute->find("N");
  if (number == attribute->end() || !number->is_string()) return std::string();
  return number->get<std::string>();
}

}  // namespace verrou::detail::dynamodb
