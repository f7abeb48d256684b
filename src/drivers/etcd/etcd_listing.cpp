// SPDX-License-Identifier: Apache-2.0
// Listing the locks held (`verrou list`): range reads over the lock keys starting with the
// prefix, page by page in key order.
#include <algorithm>
#include <string>
#include <vector>

#include "drivers/etcd/lock_value.hpp"
#include "drivers/etcd/protocol.hpp"
#include "drivers/etcd/store_impl.hpp"
#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"

namespace verrou {

namespace {
constexpr std::size_t kPage = 500;
}  // namespace

std::vector<HeldLock> EtcdStore::list_locks(std::string_view prefix, std::size_t limit) {
  constexpr std::string_view kOp = "list";
  const std::string space = impl_->prefix + std::string(detail::etcd::kLockSpace);
  const std::string first = space + std::string(prefix);
  const std::string what = std::string(prefix) + "*";  // for messages
  const std::string end = detail::etcd::prefix_end(first);
  std::string from = first;
  std::vector<HeldLock> held;
  for (;;) {
    const json request = {
        {"key", detail::etcd::base64_encode(from)},
        {"range_end", detail::etcd::base64_encode(end)},
        {"limit", std::to_string(kPage)},
        {"sort_order", "ASCEND"},
        {"sort_target", "KEY"},
    };
    const Result r = impl_->call(kOp, what, "/v3/kv/range", request, impl_->deadline());
    if (!r.ok()) impl_->fail(kOp, what, r);
    std::vector<detail::etcd::KeyValue> kvs;
    bool more = false;
    try {
      kvs = detail::etcd::range_kvs(r.body);
      more = r.body.value("more", false);
    } catch (const std::exception& e) {
      impl_->fail(kOp, what, std::string("unexpected answer: ") + e.what());
    }
    const std::int64_t now = impl_->now_ms();
    for (const auto& kv : kvs) {
      const auto record = detail::etcd::decode_lock(kv.value);
      if (!record || !impl_->holds(record->expires_at_ms, now)) continue;
      HeldLock h{.key = kv.key.substr(space.size()), .owner = record->owner};
      if (record->expires_at_ms) {
        h.remaining = Duration(std::max<std::int64_t>(0, *record->expires_at_ms - now));
      }
      h.fencing_token = static_cast<std::uint64_t>(kv.create_revision);
      held.push_back(std::move(h));
      if (held.size() >= limit) return held;
    }
    if (!more || kvs.empty()) break;
    from = kvs.back().key + std::string(1, '\0');
  }
  return held;
}

}  // namespace verrou
