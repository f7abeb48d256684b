// SPDX-License-Identifier: Apache-2.0
// Listing the locks held (`verrou list`): SCAN over the prefix on every master, then each
// lock's owner, time left and fencing counter, read on the master that holds it.
#include <algorithm>
#include <string>
#include <vector>

#include "drivers/redis/data_layout.hpp"
#include "drivers/redis/store_impl.hpp"
#include "verrou/errors.hpp"

namespace verrou {

using detail::redis::Commands;
using detail::redis::Reply;

namespace {

// `text` as a SCAN MATCH pattern matching itself literally.
std::string glob_literal(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

constexpr std::size_t kScanCount = 1000;

}  // namespace

std::vector<HeldLock> RedisStore::list_locks(std::string_view prefix, std::size_t limit) {
  const std::string& key_prefix = impl_->options.key_prefix;
  const std::string pattern = glob_literal(key_prefix) + glob_literal(prefix) + "*";
  const std::string count = std::to_string(kScanCount);
  std::vector<HeldLock> held;
  impl_->router.on_every_master("list locks (SCAN)", [&](const auto& run) {
    std::string cursor = "0";
    do {
      Commands scan;
      scan.add({"SCAN", cursor, "MATCH", pattern, "COUNT", count, "TYPE", "string"});
      const Reply reply = std::move(run(scan).front());
      if (reply.type != Reply::Type::kArray || reply.elements.size() != 2 ||
          reply.elements[1].type != Reply::Type::kArray) {
        impl_->unexpected("list locks (SCAN)", pattern, reply);
      }
      cursor = reply.elements[0].str;
      std::vector<std::string> keys;
      for (const auto& element : reply.elements[1].elements) {
        if (!detail::redis::is_store_key(element.str)) keys.push_back(element.str);
      }
      if (keys.empty()) continue;
      // The key's slot is this master's, and its counter lives in the same slot.
      Commands reads;
      for (const auto& key : keys) {
        reads.add({"GET", key});
        reads.add({"PTTL", key});
        reads.add({"GET", detail::redis::fence_key(key)});
      }
      const auto replies = run(reads);
      for (std::size_t i = 0; i < keys.size() && 3 * i + 2 < replies.size(); ++i) {
        const Reply& owner = replies[3 * i];
        const Reply& ttl = replies[3 * i + 1];
        const Reply& token = replies[3 * i + 2];
        // Gone meanwhile (nil, PTTL -2), or moved to another node during a resharding.
        if (owner.type != Reply::Type::kString || ttl.type != Reply::Type::kInteger ||
            ttl.integer == -2) {
          continue;
        }
        HeldLock h{.key = keys[i].substr(key_prefix.size()), .owner = owner.str};
        if (ttl.integer >= 0) h.remaining = Duration(ttl.integer);
        if (token.type == Reply::Type::kString) {
          try {
            h.fencing_token = std::stoull(token.str);
          } catch (const std::exception&) {  // not a counter of ours: no token to show
          }
        }
        held.push_back(std::move(h));
      }
    } while (cursor != "0");
  });
  std::sort(held.begin(), held.end(),
            [](const HeldLock& a, const HeldLock& b) { return a.key < b.key; });
  if (held.size() > limit) held.resize(limit);
  return held;
}

}  // namespace verrou
