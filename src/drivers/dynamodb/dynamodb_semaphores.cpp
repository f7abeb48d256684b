// SPDX-License-Identifier: Apache-2.0
// The DynamoDB store's semaphores: one item per semaphore key in the semaphore table, holding
// every holder with its lease and the limit it was admitted under, and a version number that
// every write raises. Taking a permit reads the item, prunes expired holders, counts, and
// writes the item back on the condition that its version is still the one read: a
// compare-and-swap on one item, which DynamoDB applies atomically. docs/dynamodb.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "detail/owner.hpp"
#include "drivers/dynamodb/items.hpp"
#include "drivers/dynamodb/store_impl.hpp"
#include "verrou/errors.hpp"
#include "verrou/semaphore.hpp"

namespace verrou {
namespace {

using detail::dynamodb::num;
using detail::dynamodb::Reply;
using detail::dynamodb::str;
using json = nlohmann::json;

constexpr const char* kHolders = "holders";
constexpr const char* kVersion = "version";
// In each holder's entry.
constexpr const char* kExpiresAt = "expires_at";
constexpr const char* kLimit = "limit";
constexpr const char* kWriteId = "write_id";

// Compare-and-swap rounds before `save_permit` reports no permit free; each lost round means
// another caller changed the semaphore in between.
constexpr int kMaxRounds = 64;

// A holder's live permit: held and not expired (no expires_at: never expires).
constexpr const char* kLiveHolderCondition =
    "attribute_exists(#hs.#h) AND (attribute_not_exists(#hs.#h.#e) OR #hs.#h.#e >= :now)";

struct HolderEntry {
  std::optional<std::int64_t> expires_at;  // nullopt: never
  std::uint32_t limit = 0;
  std::string write_id;
  json raw;  // as stored, written back unchanged
};

struct SemaphoreItem {
  bool exists = false;
  std::optional<std::string> version;  // as stored; nullopt when the item has none
  std::uint64_t version_number = 0;
  std::map<std::string, HolderEntry> live;  // holders whose lease has not run out
};

void check_holder(const std::string& holder) {
  if (holder.empty()) {
    throw InvalidArgumentError("DynamoDB store: a semaphore holder must not be empty");
  }
}

}  // namespace

namespace {

// Reads the semaphore item of `key` (strongly consistent) and keeps its live holders.
SemaphoreItem read_semaphore(detail::dynamodb::StoreState& impl, const std::string& key,
                             std::int64_t now) {
  const json request = {
      {"TableName", impl.semaphore_table},
      {"Key", {{"key", str(key)}}},
      {"ConsistentRead", true},
  };
  const Reply r = impl.call("GetItem", request);
  if (!r.ok()) impl.fail("GetItem", r, &key, &impl.semaphore_table);
  SemaphoreItem out;
  const auto item = r.body.find("Item");
  if (item == r.body.end() || !item->is_object()) return out;
  out.exists = true;
  const auto bad = [&](const std::string& what) {
    impl.bad_item("GetItem", key, "semaphore item: " + what, &impl.semaphore_table);
  };
  if (const auto version = detail::dynamodb::number_attribute(*item, kVersion)) {
    const auto number = detail::dynamodb::parse_counter(*version);
    if (!number || *number == std::numeric_limits<std::uint64_t>::max()) {
      bad("version is not a counter: " + item->find(kVersion)->dump());
    }
    out.version = *version;
    out.version_number = *number;
  }
  const auto holders = item->find(kHolders);
  if (holders == item->end()) return out;
  const auto map = holders->find("M");
  if (!holders->is_object() || map == holders->end() || !map->is_object()) {
    bad("holders is not a map: " + holders->dump());
  }
  for (const auto& [holder, value] : map->items()) {
    const auto fields = value.find("M");
    if (!value.is_object() || fields == value.end() || !fields->is_object()) {
      bad("the entry of holder '" + holder + "' is not a map: " + value.dump());
    }
    HolderEntry entry;
    entry.raw = value;
    if (const auto at = detail::dynamodb::number_attribute(*fields, kExpiresAt)) {
      entry.expires_at = detail::dynamodb::parse_epoch_ms(*at);
      if (!entry.expires_at) bad("holder '" + holder + "' has a bad expires_at: " + value.dump());
    }
    const auto limit = detail::dynamodb::number_attribute(*fields, kLimit);
    const auto limit_number = limit ? detail::dynamodb::parse_counter(*limit) : std::nullopt;
    if (!limit_number || *limit_number == 0 ||
        *limit_number > std::numeric_limits<std::uint32_t>::max()) {
      bad("holder '" + holder + "' has a bad limit: " + value.dump());
    }
    entry.limit = static_cast<std::uint32_t>(*limit_number);
    if (const auto id = fields->find(kWriteId);
        id != fields->end() && id->is_object() && id->contains("S") && (*id)["S"].is_string()) {
      entry.write_id = (*id)["S"].get<std::string>();
    }
    if (!entry.expires_at || *entry.expires_at >= now) out.live.emplace(holder, std::move(entry));
  }
  return out;
}

void pause_after_conflict(int round) {
  // Callers that lost a round together should not come back together.
  thread_local std::mt19937 rng{std::random_device{}()};
  const int cap = std::min(1 << std::min(round, 5), 20);  // ms
  std::uniform_int_distribution<int> pick(0, cap);
  std::this_thread::sleep_for(std::chrono::milliseconds(pick(rng)));
}

}  // namespace

bool DynamoDbStore::save_permit(const std::string& key, const std::string& holder,
                                std::uint32_t limit, std::optional<Duration> ttl) {
  detail::dynamodb::check_key(key);
  check_holder(holder);
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
  impl_->ensure_semaphore_table();
  // Written in this call's entry, so that a write whose answer was lost and that took effect
  // is recognised as this call's own when the item is read again.
  const std::string write_id = detail::new_owner_token();
  for (int round = 0; round < kMaxRounds; ++round) {
    if (round >= 2) pause_after_conflict(round);
    const std::int64_t now = epoch_ms_now();
    SemaphoreItem item = read_semaphore(*impl_, key, now);
    if (const auto mine = item.live.find(holder); mine != item.live.end()) {
      return mine->second.write_id == write_id;  // ours from an earlier round, or re-entry
    }
    std::uint32_t smallest = limit;
    for (const auto& [name, entry] : item.live) smallest = std::min(smallest, entry.limit);
    if (item.live.size() >= smallest) return false;

    json entry = {{kLimit, num(limit)}, {kWriteId, str(write_id)}};
    if (ttl) entry[kExpiresAt] = num(now + ttl->count());
    json holders = json::object();
    for (auto& [name, kept] : item.live) holders[name] = std::move(kept.raw);
    holders[holder] = {{"M", std::move(entry)}};
    json request = {
        {"TableName", impl_->semaphore_table},
        {"Item",
         {{"key", str(key)},
          {kHolders, {{"M", std::move(holders)}}},
          {kVersion, {{"N", std::to_string(item.version_number + 1)}}}}},
    };
    if (!item.exists) {
      request["ConditionExpression"] = "attribute_not_exists(#k)";
      request["ExpressionAttributeNames"] = {{"#k", "key"}};
    } else if (!item.version) {
      request["ConditionExpression"] = "attribute_exists(#k) AND attribute_not_exists(#v)";
      request["ExpressionAttributeNames"] = {{"#k", "key"}, {"#v", kVersion}};
    } else {
      request["ConditionExpression"] = "#v = :v";
      request["ExpressionAttributeNames"] = {{"#v", kVersion}};
      request["ExpressionAttributeValues"] = {{":v", {{"N", *item.version}}}};
    }
    const Reply r = impl_->call("PutItem", request);
    if (r.ok()) return true;
    if (r.error_type != "ConditionalCheckFailedException") {
      impl_->fail("PutItem", r, &key, &impl_->semaphore_table);
    }
    // Another caller changed the semaphore since it was read (or an earlier attempt of this
    // request did, its answer lost): read it again.
  }
  return false;
}

void DynamoDbStore::remove_permit(const std::string& key, const std::string& holder) {
  detail::dynamodb::check_key(key);
  check_holder(holder);
  impl_->ensure_semaphore_table();
  const json request = {
      {"TableName", impl_->semaphore_table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", "REMOVE #hs.#h ADD #v :one"},
      {"ConditionExpression", kLiveHolderCondition},
      {"ExpressionAttributeNames",
       {{"#hs", kHolders}, {"#h", holder}, {"#e", kExpiresAt}, {"#v", kVersion}}},
      {"ExpressionAttributeValues", {{":now", num(epoch_ms_now())}, {":one", num(1)}}},
  };
  const Reply r = impl_->call("UpdateItem", request);
  if (r.ok()) return;
  if (r.error_type == "ConditionalCheckFailedException") {
    // An earlier attempt whose answer was lost may have given it back: the holder has no
    // permit either way, which is what release promises.
    if (r.earlier_attempt_may_have_applied) return;
    throw LockNotOwnedError("DynamoDB store: the semaphore '" + key +
                            "' has no permit of this holder (never acquired, released, or "
                            "expired)");
  }
  impl_->fail("UpdateItem", r, &key, &impl_->semaphore_table);
}

void DynamoDbStore::extend_permit(const std::string& key, const std::string& holder,
                                  Duration duration) {
  detail::dynamodb::check_key(key);
  check_holder(holder);
  validate_ttl(duration);
  impl_->ensure_semaphore_table();
  const std::int64_t now = epoch_ms_now();
  const json request = {
      {"TableName", impl_->semaphore_table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", "SET #hs.#h.#e = :e ADD #v :one"},
      {"ConditionExpression", kLiveHolderCondition},
      {"ExpressionAttributeNames",
       {{"#hs", kHolders}, {"#h", holder}, {"#e", kExpiresAt}, {"#v", kVersion}}},
      {"ExpressionAttributeValues",
       {{":now", num(now)}, {":e", num(now + duration.count())}, {":one", num(1)}}},
  };
  const Reply r = impl_->call("UpdateItem", request);
  if (r.ok()) return;
  if (r.error_type == "ConditionalCheckFailedException") {
    throw LockNotOwnedError("DynamoDB store: cannot extend the permit of semaphore '" + key +
                            "': this holder has none (released, or expired)");
  }
  impl_->fail("UpdateItem", r, &key, &impl_->semaphore_table);
}

std::uint32_t DynamoDbStore::count_permits(const std::string& key) {
  detail::dynamodb::check_key(key);
  impl_->ensure_semaphore_table();
  const auto item = read_semaphore(*impl_, key, epoch_ms_now());
  return static_cast<std::uint32_t>(
      std::min<std::size_t>(item.live.size(), std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace verrou
