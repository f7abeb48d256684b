// SPDX-License-Identifier: Apache-2.0
//
// drivers/etcd.hpp: locks on an etcd cluster, through its v3 JSON gateway (etcd 3.4 or later).
//
// A lock is one key, `<prefix>lock/<key>`, created in one transaction when it is free, and
// attached to an etcd lease. Every decision reads through the cluster's quorum (linearizable
// reads and transactions), so a lock survives the loss of a minority of members without ever
// having two holders. The fencing token of an acquisition is the key's create revision, which
// etcd makes strictly greater for every write in the cluster. Waiters watch the keys (one
// watch stream per store) and are woken when a lock's key is deleted.
//
//   verrou::Verrou locks({
//       .default_store = "etcd",
//       .stores = {{"etcd", verrou::etcd_store({
//           .endpoints = {{"10.0.0.1", 2379}, {"10.0.0.2", 2379}, {"10.0.0.3", 2379}},
//       })}},
//   });
//   // or: verrou::open_store("etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379")
//
// URLs (also accepted by `verrou::open_store`):
//   etcd://[user:password@]host[:port][,host[:port]…][?options]     (port 2379 by default)
//   etcds://[user:password@]host[:port][,…][?ca_file=…&cert_file=…&key_file=…]   (TLS)
// Options: prefix (default "verrou/"), expiry (lease or clock, below), connect_timeout,
// request_timeout, operation_timeout (durations: "2s", "500ms"); with etcds: ca_file,
// cert_file, key_file, insecure_skip_verify.
//
// Expiry (see docs/etcd.md, "Expiry, leases and clocks"):
//  - `lease` (the default): etcd judges expiry. A lock's key is attached to a lease that etcd
//    ends no earlier than the holder's own expiration time, and another process may take the
//    lock only once etcd has deleted the key: no clock of one machine is ever compared with
//    another's. Leases last whole seconds, at least etcd's minimum (2 s by default), so a
//    vanished holder's lock lasts its TTL rounded up to that: at most about 1.3 s (+ 0.1 % of
//    the TTL) longer, or etcd's minimum when that is longer, plus the up to 0.5 s etcd takes
//    to notice an expired lease; a leader change renews leases (never shortens them).
//  - `clock`: the expiry written in the lock's value is judged by the clock of the process
//    that reads it, as on DynamoDB: locks end at their TTL to the millisecond (sub-second TTLs
//    work), but keep the clocks of the machines sharing locks synchronised, and TTLs well
//    above their skew: a process whose clock runs ahead by s may take a lock up to s early.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verrou/duration.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// An etcd member's client address: host name or IP literal (IPv6 without brackets) and port.
/// Thread safety: plain data.
struct EtcdEndpoint {
  std::string host{};         ///< host name or IP address
  std::uint16_t port = 2379;  ///< client port
};

/// Who judges that a lock (or a semaphore permit) has expired: see `EtcdStoreOptions::expiry`.
enum class EtcdExpiry {
  /// etcd does: a lock is free once etcd has deleted its key at its lease's end. Safe whatever
  /// the clients' clocks say; TTLs count in whole seconds (rounded up, at least etcd's minimum
  /// lease TTL) for other processes. URL `expiry=lease`.
  lease,
  /// The process that reads the lock does, from the expiry written in its value and its own
  /// clock: TTLs to the millisecond, but the machines' clocks must agree well within the
  /// TTLs. URL `expiry=clock`.
  clock,
};

/// How to reach etcd and where the locks live. Thread safety: plain data.
struct EtcdStoreOptions {
  /// The cluster's members (all of them, or any subset): every call tries them in turn until
  /// one serves it. Required.
  std::vector<EtcdEndpoint> endpoints{};
  /// Prepended to every key the store writes (locks under `<prefix>lock/`). Any bytes.
  std::string prefix = "verrou/";
  /// etcd user name, when the cluster has authentication enabled; empty: none.
  std::string username{};
  /// The user's password; never written to messages or logs.
  std::string password{};
  /// HTTPS to every member (the `etcds://` scheme).
  bool tls = false;
  /// PEM file of the certificate authority that signed the members' certificates; empty:
  /// the system's authorities.
  std::string ca_file{};
  /// Client certificate (PEM), for members started with --client-cert-auth; with `key_file`.
  std::string cert_file{};
  /// The client certificate's private key (PEM).
  std::string key_file{};
  /// Skip checking the members' certificates. For tests only: it allows impersonation.
  bool insecure_skip_verify = false;
  /// Time allowed to open a connection to one member. Default 1 s.
  Duration connect_timeout{1000};
  /// Time allowed for one request to one member before the next member is tried (a frozen
  /// or partitioned member costs this much). Default 2 s.
  Duration request_timeout{2000};
  /// Time allowed for one store operation, all members and retries included; then it fails
  /// with `LockStorageError`. Default 10 s.
  Duration operation_timeout{10000};
  /// Who judges expiry: `EtcdExpiry::lease` (the default: etcd's leases, safe whatever the
  /// clocks say) or `EtcdExpiry::clock` (each reader's clock; sub-second TTLs). Every process
  /// sharing a prefix should use the same mode: a clock-mode process judges every lock it
  /// reads by its own clock, lease-mode holders' locks included.
  EtcdExpiry expiry = EtcdExpiry::lease;
  /// The wall clock the store reads to write and judge expiry times; empty: the system clock.
  /// For tests that simulate a machine whose clock is wrong.
  std::function<std::chrono::system_clock::time_point()> clock{};
  /// Idle HTTP connections kept for reuse (one per thread that used the store at once); more
  /// concurrent callers than this open and close connections.
  std::size_t max_idle_connections = 64;

  /// Options from a URL (see atop this header). Throws `InvalidArgumentError` for another
  /// scheme, a path, no host, or an unknown or malformed option (`expiry` other than `lease`
  /// or `clock`).
  static EtcdStoreOptions from_url(std::string_view url);
};

/// The etcd store.
///
/// Each operation is one linearizable request in the common case: a transaction that creates
/// the key if absent (acquire), or deletes / rewrites it if its mod revision is still the one
/// read (release, extend). With `EtcdExpiry::clock`, a lock whose expiry has passed but whose
/// key etcd has not yet removed is deleted first, conditioned on that same revision; with
/// `EtcdExpiry::lease`, only etcd deletes an expired lock's key (at its lease's end). A
/// request whose answer was lost is sent again to the next member, and recognises its own
/// earlier write.
///
/// A holder's own release or extend after its expiration time (by the expiry it wrote and its
/// own clock) is refused with `LockNotOwnedError` in both modes, even while etcd still keeps
/// the key: a holder past its expiration time must not believe it still holds.
///
/// Errors: `LockStorageError` naming the operation, the key, the members and what etcd said
/// (after trying every member until `operation_timeout`: retrying later can help when the
/// cluster has lost its quorum; it cannot for a permission or authentication failure);
/// `InvalidArgumentError` for bad options, keys or TTLs.
///
/// Thread safety: all members may be called concurrently; requests run on a pool of
/// keep-alive HTTP connections, one per concurrent caller, and one thread per store runs the
/// watch stream while someone waits.
class EtcdStore final : public LockStore,
                        public WaitableLockStore,
                        public FencingLockStore,
                        public SemaphoreStore,
                        public WaitableSemaphoreStore,
                        public ListableLockStore {
 public:
  /// Does not contact etcd (see `ping`). Throws `InvalidArgumentError` for bad options.
  explicit EtcdStore(EtcdStoreOptions options);
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override;
  void remove(const std::string& key, const std::string& owner) override;
  void force_remove(const std::string& key) override;
  bool exists(const std::string& key) override;
  /// A range read over the prefix's lock keys, page by page in key order: the live locks with
  /// their owner, time left (by the expiry the holder wrote) and fencing token (the key's
  /// create revision). See `ListableLockStore::list_locks`.
  std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) override;
  void extend(const std::string& key, const std::string& owner, Duration duration) override;

  /// As `save`; the token is the create revision of the lock's key.
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<Duration> ttl) override;

  /// Takes the lock, or waits for a deletion of its key (seen on the store's watch stream),
  /// the end of its holder's lease, or `until`. `waiting_since` is not used: `Lock` lines
  /// up the waiters of a process. See `WaitableLockStore::save_waiting`.
  std::optional<Acquired> save_waiting(
      const std::string& key, const std::string& owner, std::optional<Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;

  /// Semaphores: each holder is a key under `<prefix>semaphore/<length>:<key>/`, counted and
  /// added in one transaction conditioned on no holder key having changed since the count
  /// (docs/etcd.md). See `SemaphoreStore`.
  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<Duration> ttl) override;
  void remove_permit(const std::string& key, const std::string& holder) override;
  void extend_permit(const std::string& key, const std::string& holder,
                     Duration duration) override;
  std::uint32_t count_permits(const std::string& key) override;
  /// Waits on the store's watch stream for a holder key of the semaphore to be deleted, or
  /// for the earliest holder's lease to run out. See `WaitableSemaphoreStore`.
  std::optional<Acquired> save_permit_waiting(
      const std::string& key, const std::string& holder, std::uint32_t limit,
      std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;

  /// A quorum read: throws `LockStorageError` when no member serves one.
  void ping();

  /// The etcd key holding the lock of `key`: `<prefix>lock/<key>`.
  [[nodiscard]] std::string lock_key(std::string_view key) const;
  /// The members, "h1:p1,h2:p2", for messages.
  [[nodiscard]] std::string describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A `StoreFactory` making an `EtcdStore` with `options` (checked when the store is made).
StoreFactory etcd_store(EtcdStoreOptions options);

}  // namespace verrou
