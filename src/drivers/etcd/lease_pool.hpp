// SPDX-License-Identifier: Apache-2.0
// The etcd leases lock keys are attached to, shared between locks.
//
// etcd grants leases in whole seconds, no shorter than a cluster-wide minimum (1.5 election
// timeouts, 2 s by default), so a lease cannot end exactly when a 300 ms lock does. The store
// therefore judges a lock's expiry by the expiry written in its value (lock_value.hpp) and uses
// the lease only to have etcd delete the key of a holder that vanished. The promise kept here:
// the lease given for a lock of TTL `t` ends no earlier than `t` after the call (so etcd never
// deletes a lock before its own expiry), and no later than about 2t + 3 s after it (so the key
// of a crashed holder does not linger long).
//
// A lease granted for one lock serves the next ones while it has enough time left, so most
// acquisitions send no grant: a lease of 2t + 1 s serves locks of TTL t for about t + 1 s.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "drivers/etcd/client.hpp"

namespace verrou::detail::etcd {

// Thread safety: every member may be called concurrently.
class LeasePool {
 public:
  explicit LeasePool(Client& client) : client_(client) {}

  // A lease that lasts at least `ttl` from now (and at most about 2 × ttl + 3 s), granting one
  // when the pool has none that fits. Throws LockStorageError when etcd grants none.
  std::int64_t lease_for(Duration ttl, Clock::time_point deadline);

  // etcd no longer knows lease `id` (revoked by hand, or the cluster restored): drop it.
  void forget(std::int64_t id);

  // How long the lease of a lock of TTL `ttl` is asked for, in seconds.
  static std::int64_t requested_seconds(Duration ttl);

 private:
  struct Lease {
    std::int64_t id;
    Clock::time_point safe_until;  // etcd keeps it at least until then
  };
  [[nodiscard]] Duration longest_fit(Duration ttl) const;

  Client& client_;
  std::mutex mutex_;
  std::vector<Lease> leases_;
  std::int64_t minimum_seconds_ = 0;  // the shortest lease etcd granted when asked for less
};

}  // namespace verrou::detail::etcd
