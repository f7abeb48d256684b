// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/lease_pool.hpp"

#include <algorithm>

#include "verrou/errors.hpp"

namespace verrou::detail::etcd {
namespace {

// The client's steady clock and the leader's lease clock may run at slightly different
// rates (NTP slews by at most 0.05 %): count a lease as 0.1 % shorter, less 20 ms.
Clock::time_point safe_end(Clock::time_point sent_at, std::int64_t seconds) {
  const auto granted = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(seconds));
  return sent_at + granted - granted / 1000 - std::chrono::milliseconds(20);
}

}  // namespace

std::int64_t LeasePool::requested_seconds(Duration ttl) {
  // 2 × ttl + 1 s, rounded up to whole seconds.
  const std::int64_t ms = 2 * ttl.count() + 1000;
  return (ms + 999) / 1000;
}

Duration LeasePool::longest_fit(Duration ttl) const {
  // A lease with more time left than this would keep a vanished holder's key too long.
  return std::max(2 * ttl + Duration(3000), Duration(minimum_seconds_ * 1000 + 1000));
}

std::int64_t LeasePool::lease_for(Duration ttl, Clock::time_point deadline) {
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    std::erase_if(leases_, [&](const Lease& l) { return l.safe_until <= now; });
    const Lease* best = nullptr;
    for (const Lease& l : leases_) {
      const auto left = l.safe_until - now;
      if (left >= ttl && left <= longest_fit(ttl) &&
          (best == nullptr || l.safe_until < best->safe_until)) {
        best = &l;
      }
    }
    if (best != nullptr) return best->id;
  }

  const std::int64_t seconds = requested_seconds(ttl);
  const auto sent_at = Clock::now();
  const Result r = client_.call("/v3/lease/grant", {{"TTL", std::to_string(seconds)}}, deadline);
  if (!r.ok()) {
    throw LockStorageError(client_.describe() + ": granting a lease of " +
                           std::to_string(seconds) + " s failed: " + r.message);
  }
  LeaseGrant grant;
  try {
    grant = parse_lease_grant(r.body);
  } catch (const ProtocolError& e) {
    throw LockStorageError(client_.describe() + ": granting a lease: unexpected answer: " +
                           e.what());
  }
  const Lease lease{grant.id, safe_end(sent_at, grant.ttl_seconds)};
  if (lease.safe_until - Clock::now() < ttl) {
    throw LockStorageError(client_.describe() + ": granting a lease of " +
                           std::to_string(seconds) + " s took so long that it no longer covers "
                           "the lock's TTL");
  }
  std::lock_guard lock(mutex_);
  if (grant.ttl_seconds > seconds) minimum_seconds_ = std::max(minimum_seconds_, grant.ttl_seconds);
  leases_.push_back(lease);
  // Keep the pool small: a few TTLs in use at once need a few leases.
  if (leases_.size() > 64) {
    std::sort(leases_.begin(), leases_.end(),
              [](const Lease& a, const Lease& b) { return a.safe_until > b.safe_until; });
    leases_.resize(64);
  }
  return lease.id;
}

void LeasePool::forget(std::int64_t id) {
  std::lock_guard lock(mutex_);
  std::erase_if(leases_, [&](const Lease& l) { return l.id == id; });
}

}  // namespace verrou::detail::etcd
