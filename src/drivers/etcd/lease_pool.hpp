// SPDX-License-Identifier: Apache-2.0
// The etcd leases lock keys are attached to, shared between locks.
//
// etcd grants leases in whole seconds, no shorter than a cluster-wide minimum (1.5 election
// timeouts, 2 s by default), and only its leader ends them, no earlier than their TTL after it
// applied the grant (a new leader renews every lease: it never shortens one). What the store
// asks of a lease depends on who judges expiry (EtcdExpiry):
//
//  - lease: etcd's deletion of the key at the lease's end IS the lock's expiry. The lease
//    given for a lock of TTL `t` ends no earlier than `t` after the call (counted from before
//    the grant request was sent, so from after the holder read its clock for its own
//    expiration time), and the holder never believes it holds past that. It is asked for
//    t + 0.27 s, plus 0.1 %, rounded up to whole seconds (at least etcd's minimum), and a
//    shared lease serves a lock only while it has no more time left than a fresh one would:
//    so a vanished holder's key outlives its TTL by at most about 1.3 s + 0.1 % of the TTL
//    (or etcd's minimum lease), plus the time etcd takes to notice.
//  - clock: the lock's expiry is the one written in its value (lock_value.hpp), judged by the
//    reader's clock; the lease only has etcd delete the key of a holder that vanished. It
//    still ends no earlier than `t` after the call (so etcd never deletes a lock before its
//    own expiry), and no later than about 2t + 3 s after it.
//
// A lease granted for one lock serves the next ones while it has enough time left, so most
// acquisitions send no grant.
//
// The client's steady clock and the leader's may run at slightly different rates (NTP slews
// by at most 0.05 %): a lease counts as 0.1 % shorter, less 20 ms, than etcd granted it.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "drivers/etcd/client.hpp"
#include "verrou/drivers/etcd.hpp"

namespace verrou::detail::etcd {

// Thread safety: every member may be called concurrently.
class LeasePool {
 public:
  LeasePool(Client& client, EtcdExpiry expiry) : client_(client), expiry_(expiry) {}

  // A lease that lasts at least `ttl` from now (within the bounds above), granting one when
  // the pool has none that fits. Throws LockStorageError when etcd grants none.
  std::int64_t lease_for(Duration ttl, Clock::time_point deadline);

  // etcd no longer knows lease `id` (revoked by hand, or the cluster restored): drop it.
  void forget(std::int64_t id);

  // How long the lease of a lock of TTL `ttl` is asked for, in seconds, before etcd's minimum
  // is known.
  static std::int64_t requested_seconds(EtcdExpiry expiry, Duration ttl);
  // How long etcd counts a lease of `seconds` at least, by this client's clock.
  static Duration counted(std::int64_t seconds);

 private:
  struct Lease {
    std::int64_t id;
    Clock::time_point safe_until;  // etcd keeps it at least until then
  };
  [[nodiscard]] std::int64_t seconds_for(Duration ttl) const;  // called with mutex_ held
  [[nodiscard]] Duration longest_fit(Duration ttl) const;     // called with mutex_ held

  Client& client_;
  EtcdExpiry expiry_;
  std::mutex mutex_;
  std::vector<Lease> leases_;
  std::int64_t minimum_seconds_ = 0;  // the shortest lease etcd granted when asked for less
};

}  // namespace verrou::detail::etcd
