// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/lease_pool.hpp"

#include <algorithm>

#include "verrou/errors.hpp"

namespace verrou::detail::etcd {
namespace {

// The least time a fresh lease-mode lease serves locks of its TTL before it has too little
// left: shorter means more grants, longer means a vanished holder's lock lingers longer.
constexpr Duration kLeaseShareWindow{250};

std::int64_t ceil_seconds(std::int64_t ms) { return (ms + 999) / 1000; }

}  // namespace

Duration LeasePool::counted(std::int64_t seconds) {
  const Duration granted = std::chrono::seconds(seconds);
  return granted - granted / 1000 - Duration(20);
}

std::int64_t LeasePool::requested_seconds(EtcdExpiry expiry, Duration ttl) {
  if (expiry == EtcdExpiry::clock) {
    // 2 × ttl + 1 s, rounded up to whole seconds.
    return ceil_seconds(2 * ttl.count() + 1000);
  }
  // The least whole seconds whose counted() length covers ttl and the share window:
  // s − s/1000 − 20 ms ≥ ttl + window  ⇔  s ≥ (ttl + window + 20 ms) × 1000 / 999.
  const std::int64_t need_ms = ttl.count() + kLeaseShareWindow.count() + 20;
  return ceil_seconds((need_ms * 1000 + 998) / 999);
}

std::int64_t LeasePool::seconds_for(Duration ttl) const {
  return std::max(requested_seconds(expiry_, ttl), minimum_seconds_);
}

Duration LeasePool::longest_fit(Duration ttl) const {
  if (expiry_ == EtcdExpiry::lease) {
    // No more time left than a fresh lease for this TTL would have: sharing never makes a
    // vanished holder's lock last longer than a lease of its own would.
    return counted(seconds_for(ttl));
  }
  // A lease with more time left than this would keep a vanished holder's key too long.
  return std::max(2 * ttl + Duration(3000), Duration(minimum_seconds_ * 1000 + 1000));
}

std::int64_t LeasePool::lease_for(Duration ttl, Clock::time_point deadline) {
  std::int64_t seconds = 0;
  {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    std::erase_if(leases_, [&](const Lease& l) { return l.safe_until <= now; });
    const Lease* best = nullptr;
    const Duration longest = longest_fit(ttl);
    for (const Lease& l : leases_) {
      const auto left = l.safe_until - now;
      if (left >= ttl && left <= longest &&
          (best == nullptr || l.safe_until < best->safe_until)) {
        best = &l;
      }
    }
    if (best != nullptr) return best->id;
    seconds = seconds_for(ttl);
  }

  // Counted from before the request is sent: etcd starts the lease when it applies the grant,
  // later.
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
  if (grant.ttl_seconds < seconds) {
    // etcd never grants less than asked; an answer that says so is not to be trusted.
    throw LockStorageError(client_.describe() + ": asked for a lease of " +
                           std::to_string(seconds) + " s, etcd granted only " +
                           std::to_string(grant.ttl_seconds) + " s");
  }
  const Lease lease{grant.id, sent_at + counted(grant.ttl_seconds)};
  if (lease.safe_until - Clock::now() < ttl) {
    throw LockStorageError(client_.describe() + ": granting a lease of " +
                           std::to_string(seconds) + " s took so long that it no longer covers "
                           "the lock's TTL");
  }
  std::lock_guard lock(mutex_);
  // Asked for less than etcd's minimum, it granted the minimum.
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
