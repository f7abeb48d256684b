// SPDX-License-Identifier: Apache-2.0
// What the etcd store writes as a lock key's value: who holds it, until when, and which write
// put it there; and as a semaphore holder's value, the same plus the limit it was admitted
// under.
//
//   verrou-lock/1 <expires epoch ms, or "never"> <write id>\n<owner bytes>
//   verrou-permit/1 <expires epoch ms, or "never"> <limit> <write id>\n<holder bytes>
//
// The expiry is the writer's clock just before the write plus the TTL. In clock mode
// (EtcdExpiry::clock) it is judged by the clock of the process that reads it, as etcd
// transactions cannot compare with a server clock, and the key's lease (see lease_pool.hpp)
// only removes it some time after that expiry. In lease mode only the holder itself reads it
// (to refuse its own release or extend past it); others wait for etcd to delete the key. The
// write id (random, one per write) lets a call whose answer was lost recognise its own write
// when it asks again. The owner comes last, so it may hold any bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace verrou::detail::etcd {

struct LockRecord {
  std::string owner;
  std::optional<std::int64_t> expires_at_ms;  // nullopt: never expires
  std::string write_id;

  // Not past its expiry at `now_ms` (epoch ms).
  [[nodiscard]] bool live(std::int64_t now_ms) const {
    return !expires_at_ms || now_ms < *expires_at_ms;
  }
};

std::string encode_lock(const LockRecord& record);
// nullopt for a value the store did not write (another program's key under the prefix).
std::optional<LockRecord> decode_lock(std::string_view value);

struct PermitRecord {
  LockRecord lease;          // the holder (as `owner`), its expiry and write id
  std::uint32_t limit = 0;   // the limit it was admitted under
};

std::string encode_permit(const PermitRecord& record);
std::optional<PermitRecord> decode_permit(std::string_view value);

}  // namespace verrou::detail::etcd
