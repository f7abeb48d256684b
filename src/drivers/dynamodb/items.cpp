// SPDX-License-Identifier: Apache-2.0
#include "drivers/dynamodb/items.hpp"

#include <charconv>
#include <cmath>
#include <exception>

#include "detail/text.hpp"
#include "verrou/errors.hpp"
#include "verrou/store.hpp"

namespace verrou::detail::dynamodb {

nlohmann::json str(const std::string& value) { return nlohmann::json{{"S", value}}; }
nlohmann::json num(std::int64_t value) { return nlohmann::json{{"N", std::to_string(value)}}; }

void check_key(const std::string& key) {
  validate_key(key);
  if (!is_utf8(key)) {
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
