// SPDX-License-Identifier: Apache-2.0
#include "verrou/serialized_lock.hpp"

#include <nlohmann/json.hpp>

#include <string>

#include "verrou/errors.hpp"
#include "verrou/store.hpp"

namespace verrou {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxJsonBytes = 64 * 1024;
constexpr int kMaxDepth = 8;  // room for members a newer writer adds, not for hostile nesting

[[noreturn]] void bad_json(const std::string& why) {
  throw InvalidArgumentError(
      "invalid serialized lock: " + why +
      "; expected Verrou's shape {\"key\":\"…\",\"owner\":\"…\",\"ttl\":ms|null,"
      "\"expirationTime\":ms|null} as written by Lock::serialize().to_json()");
}

std::optional<std::int64_t> read_integer(const Json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) {
      bad_json(std::string("\"") + name + "\" is out of range");
    }
    return it->get<std::int64_t>();
  }
  if (it->is_number_float()) {
    // JavaScript writes integers as plain numbers, but accept 30000.0 too.
    const double value = it->get<double>();
    // Range first: converting an out-of-range double to an integer is undefined behaviour.
    if (value > -9.2e18 && value < 9.2e18 &&
        value == static_cast<double>(static_cast<std::int64_t>(value))) {
      return static_cast<std::int64_t>(value);
    }
    bad_json(std::string("\"") + name + "\" must be a whole number of milliseconds");
  }
  bad_json(std::string("\"") + name + "\" must be a number or null");
}

// A fencing token: a whole number from 0 to 2^64-1. nlohmann keeps integers beyond int64 as
// unsigned and anything past 2^64-1 (or with a fraction or exponent) as a double, so only
// integer kinds are accepted: a double could not carry every 64-bit value exactly anyway.
std::optional<std::uint64_t> read_token(const Json& object) {
  const auto it = object.find("fencingToken");
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) bad_json("\"fencingToken\" must not be negative");
  if (it->is_number_float()) {
    const double value = it->get<double>();
    // Integral doubles below 2^53 are exact (a writer that prints 7.0); others are not tokens.
    if (value >= 0 && value < 9007199254740992.0 &&
        value == static_cast<double>(static_cast<std::uint64_t>(value))) {
      return static_cast<std::uint64_t>(value);
    }
    bad_json("\"fencingToken\" must be a whole number from 0 to 18446744073709551615");
  }
  bad_json("\"fencingToken\" must be a number or null");
}

std::string read_string(const Json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end()) bad_json(std::string("\"") + name + "\" is missing");
  if (!it->is_string()) bad_json(std::string("\"") + name + "\" must be a string");
  auto value = it->get<std::string>();
  if (value.empty()) bad_json(std::string("\"") + name + "\" is empty");
  return value;
}

}  // namespace

std::string SerializedLock::to_json() const {
  Json j = Json::object();
  j["key"] = key;
  j["owner"] = owner;
  j["ttl"] = ttl ? Json(ttl->count()) : Json(nullptr);
  j["expirationTime"] = expiration_time ? Json(*expiration_time) : Json(nullptr);
  try {
    // Keep Verrou's member order, which JSON readers ignore but people reading logs do not.
    std::string text = "{\"key\":" + j["key"].dump() + ",\"owner\":" + j["owner"].dump() +
                       ",\"ttl\":" + j["ttl"].dump() +
                       ",\"expirationTime\":" + j["expirationTime"].dump();
    if (fencing_token) text += ",\"fencingToken\":" + std::to_string(*fencing_token);
    return text + "}";
  } catch (const Json::exception&) {
    throw InvalidArgumentError(
        "cannot serialize the lock: its key or owner is not valid UTF-8, which JSON cannot carry; "
        "use UTF-8 keys for locks that are handed between processes");
  }
}

SerializedLock SerializedLock::from_json(std::string_view json) {
  if (json.size() > kMaxJsonBytes) bad_json("the text is larger than 64 KiB");
  Json parsed;
  try {
    // The callback refuses nesting past the flat object before the parser builds it.
    parsed = Json::parse(json.begin(), json.end(),
                         [](int depth, Json::parse_event_t event, Json&) {
                           if (depth >= kMaxDepth &&
                               (event == Json::parse_event_t::object_start ||
                                event == Json::parse_event_t::array_start)) {
                             throw InvalidArgumentError("nested");
                           }
                           return true;
                         });
  } catch (const InvalidArgumentError&) {
    bad_json("it is nested more than 8 levels deep");
  } catch (const Json::exception& e) {
    bad_json(std::string("not JSON (") + e.what() + ")");
  }
  if (!parsed.is_object()) bad_json("the text is not a JSON object");

  SerializedLock lock;
  lock.key = read_string(parsed, "key");
  lock.owner = read_string(parsed, "owner");
  try {
    validate_key(lock.key);
  } catch (const InvalidArgumentError& e) {
    bad_json(std::string("\"key\": ") + e.what());
  }
  if (lock.owner.size() > 255) bad_json("\"owner\" is longer than 255 bytes");
  if (auto ttl = read_integer(parsed, "ttl")) {
    if (*ttl <= 0 || *ttl > kMaxTtl.count()) {
      bad_json("\"ttl\" must be more than 0 and at most 100 years in milliseconds, or null");
    }
    lock.ttl = Duration(*ttl);
  }
  lock.expiration_time = read_integer(parsed, "expirationTime");
  if (lock.expiration_time && *lock.expiration_time < 0) {
    bad_json("\"expirationTime\" must be epoch milliseconds (not negative) or null");
  }
  lock.fencing_token = read_token(parsed);
  return lock;
}

}  // namespace verrou
