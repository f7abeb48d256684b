// SPDX-License-Identifier: Apache-2.0
// Listing the locks held (`verrou list`): a consistent Scan of the lock table, page by page,
// keeping the live items whose key begins with the prefix.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "drivers/dynamodb/items.hpp"
#include "drivers/dynamodb/store_impl.hpp"
#include "verrou/drivers/dynamodb.hpp"
#include "verrou/errors.hpp"

namespace verrou {

using json = nlohmann::json;

std::vector<HeldLock> DynamoDbStore::list_locks(std::string_view prefix, std::size_t limit) {
  const std::int64_t now = epoch_ms_now();
  // Released items keep their fencing counter and lose their owner; expired ones keep both.
  std::string filter = "attribute_exists(#o) AND (attribute_not_exists(#e) OR #e >= :now)";
  json names = {{"#o", "owner"}, {"#e", "expires_at"}};
  json values = {{":now", detail::dynamodb::num(now)}};
  if (!prefix.empty()) {
    filter = "begins_with(#k, :p) AND " + filter;
    names["#k"] = "key";
    values[":p"] = detail::dynamodb::str(std::string(prefix));
  }
  json request = {
      {"TableName", impl_->table},
      {"FilterExpression", filter},
      {"ExpressionAttributeNames", names},
      {"ExpressionAttributeValues", values},
      {"ConsistentRead", true},
  };
  std::vector<HeldLock> held;
  for (;;) {
    const auto r = impl_->call("Scan", request);
    if (!r.ok()) impl_->fail("Scan", r);
    const auto items = r.body.find("Items");
    if (items != r.body.end() && items->is_array()) {
      for (const auto& item : *items) {
        const auto key = item.find("key");
        const auto owner = item.find("owner");
        if (key == item.end() || owner == item.end() || !key->contains("S") ||
            !owner->contains("S")) {
          continue;  // not an item of a lock
        }
        HeldLock h{.key = (*key)["S"].get<std::string>(),
                   .owner = (*owner)["S"].get<std::string>()};
        if (const auto text = detail::dynamodb::number_attribute(item, "expires_at")) {
          const auto at = detail::dynamodb::parse_epoch_ms(*text);
          if (!at) continue;
          h.remaining = Duration(std::max<std::int64_t>(0, *at - now));
        }
        if (const auto text =
                detail::dynamodb::number_attribute(item, detail::dynamodb::kFencingAttribute)) {
          h.fencing_token = detail::dynamodb::parse_counter(*text);
        }
        held.push_back(std::move(h));
      }
    }
    const auto next = r.body.find("LastEvaluatedKey");
    if (held.size() >= limit || next == r.body.end() || !next->is_object() || next->empty()) break;
    request["ExclusiveStartKey"] = *next;
  }
  std::sort(held.begin(), held.end(),
            [](const HeldLock& a, const HeldLock& b) { return a.key < b.key; });
  if (held.size() > limit) held.resize(limit);
  return held;
}

}  // namespace verrou
