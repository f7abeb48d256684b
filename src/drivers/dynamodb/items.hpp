// SPDX-License-Identifier: Apache-2.0
// How the DynamoDB store writes and reads item values: attribute values, keys, numbers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace verrou::detail::dynamodb {

// Attributes of a lock item beyond Verrou's `key`, `owner` and `expires_at` (docs/dynamodb.md).
// A random id per save call, so a save retried after a lost answer recognises its own write.
inline constexpr const char* kWriteIdAttribute = "write_id";
// The key's fencing counter: the token of the latest acquisition by verrou-cpp.
inline constexpr const char* kFencingAttribute = "fencing_token";

// A string attribute value, {"S": value}.
nlohmann::json str(const std::string& value);
// A number attribute value, {"N": "value"}.
nlohmann::json num(std::int64_t value);

// Checks a key: `validate_key`, and valid UTF-8 (DynamoDB strings are). Throws
// InvalidArgumentError.
void check_key(const std::string& key);

// True for 3 to 255 characters among a-z A-Z 0-9 _ - . (DynamoDB's table names).
bool valid_table_name(std::string_view name);

// An epoch-milliseconds number as written by verrou-cpp or Verrou (an integer; a decimal is
// tolerated and floored). nullopt when it is not a number an int64 holds.
std::optional<std::int64_t> parse_epoch_ms(const std::string& text);

// A counter as DynamoDB returns it: decimal digits only, at most 2^64-1. nullopt otherwise.
std::optional<std::uint64_t> parse_counter(std::string_view text);

// The text of the number attribute `name` of `item` (an Item or Attributes object): nullopt
// when the attribute is absent; "" when it is present but not of type N.
std::optional<std::string> number_attribute(const nlohmann::json& item, const char* name);

}  // namespace verrou::detail::dynamodb
