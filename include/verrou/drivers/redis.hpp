// SPDX-License-Identifier: Apache-2.0
//
// drivers/redis.hpp: locks in Redis — standalone, Redis Cluster, over TLS, with ACL users.
//
// The data is Verrou's own (`SET key owner PX ttl NX`; the value at the key is the owner
// token), so a C++ service and a Node.js service on `@verrou/core` contend for the same locks.
// Every acquisition also gets a fencing token from a counter kept beside the lock
// (docs/redis.md, "Data").
// Works with Redis, Valkey, DragonFly, and managed services such as Upstash and Vercel KV
// (`rediss://` with a password). Waiters are woken by a message published on release.
//
//   verrou::Verrou locks({
//       .default_store = "redis",
//       .stores = {{"redis", verrou::redis_store({
//           .connection = verrou::RedisConnection::from_url("redis://127.0.0.1:6379"),
//       })}},
//   });
//   auto lock = locks.create_lock("invoice:42", std::chrono::seconds(10));
//
// URLs (also accepted by `verrou::open_store`):
//   redis://[user:password@]host[:port][/db][?options]
//   rediss://[user:password@]host[:port][/db][?ca_file=…&insecure_skip_verify=…]   (TLS)
//   redis+unix:///path/to/redis.sock[?db=N]
//   redis+cluster://host:port[,host:port…][?options]    (rediss+cluster:// over TLS)
// Options: connect_timeout, command_timeout (durations: "2s", "500ms"), pool_size,
// ca_file, insecure_skip_verify, tls_server_name, cert_file, key_file, db;
// `open_store` also takes key_prefix, wait_replicas and wait_timeout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verrou/duration.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// A Redis server address: host name or IP literal (IPv6 without brackets) and TCP port.
/// Thread safety: plain data.
struct RedisEndpoint {
  std::string host{};          ///< host name or IP address
  std::uint16_t port = 6379;  ///< TCP port
};

/// How to reach Redis: where, how to authenticate, TLS, timeouts and pool size.
///
/// Usually made with `from_url`; can be filled in by hand:
///
///   verrou::RedisConnection c{.endpoints = {{"cache.internal", 6379}}, .password = "s3cret"};
///
/// Thread safety: plain data.
struct RedisConnection {
  /// The server, or for a cluster the seed nodes (any reachable one gives the slot map).
  /// Ignored when `unix_socket` is set.
  std::vector<RedisEndpoint> endpoints{};
  /// Path of a Unix domain socket to use instead of TCP; empty for TCP.
  std::string unix_socket{};
  /// True for Redis Cluster: keys are routed to the node owning their hash slot.
  bool cluster = false;
  /// ACL user name (Redis 6+): `AUTH username password`; a user name without a password
  /// authenticates with an empty password, which only a `nopass` ACL user accepts. Empty:
  /// `AUTH password` (or no AUTH without a password).
  std::string username{};
  /// Password for `AUTH`; empty: no authentication.
  std::string password{};
  /// Logical database selected with `SELECT`; must be 0 in cluster mode.
  int database = 0;

  /// Speak TLS (the `rediss://` schemes).
  bool tls = false;
  /// PEM file of the certificate authorities to trust; empty: the system's default store.
  std::string tls_ca_file{};
  /// Name the server certificate must carry (and sent as SNI); empty: the endpoint's host.
  std::string tls_server_name{};
  /// PEM client certificate and key, for servers that require client certificates.
  std::string tls_cert_file{};
  std::string tls_key_file{};  ///< see `tls_cert_file`
  /// Accept any server certificate. Only for tests: it lets anyone on the path read and
  /// change the traffic, including the password.
  bool tls_insecure_skip_verify = false;

  /// Longest wait to open a connection (TCP, TLS handshake, AUTH, SELECT); default 5 s.
  Duration connect_timeout{5000};
  /// Longest wait for one reply; retries after redirections, failovers and restarts stop after
  /// connect + command timeout. Default 5 s.
  Duration command_timeout{5000};
  /// Most connections per server. Every thread shares them: commands are pipelined (sent
  /// together, replies matched in order), and a new connection is opened only while every
  /// open one has commands in flight. Default 4; must be at least 1. (Waiters use one more,
  /// shared subscriber connection.)
  std::size_t pool_size = 4;

  /// Parses a `redis://`, `rediss://`, `redis+unix://`, `redis+cluster://` or
  /// `rediss+cluster://` URL (see the file comment). Throws `InvalidArgumentError` for a
  /// malformed URL or an unknown option, naming it. Thread safety: pure.
  static RedisConnection from_url(std::string_view url);

  /// The address for messages, e.g. `"127.0.0.1:6379"`, `"unix:/run/redis.sock"` or
  /// `"cluster 127.0.0.1:7000,127.0.0.1:7001"`. Never contains the password.
  [[nodiscard]] std::string describe() const;
};

/// Options of the Redis store.
/// Thread safety: plain data.
struct RedisStoreOptions {
  RedisConnection connection{};  ///< required: where Redis is
  /// Prepended to every key; empty by default, so keys are the ones `@verrou/core` uses.
  std::string key_prefix{};
  /// After taking a lock, wait until this many replicas have it (`WAIT`), so a failover to
  /// one of them keeps the lock. When fewer acknowledge within `wait_timeout`, the lock is
  /// released again and the acquisition fails with `LockStorageError`. Default 0: no wait
  /// (replication is asynchronous; see docs/redis.md, "Failover").
  std::uint32_t wait_replicas = 0;
  /// Longest wait for `wait_replicas`; default 1 s. Must be more than 0 ms.
  Duration wait_timeout{1000};
};

/// The Redis store. Connects lazily and reconnects by itself: a store made while Redis is
/// down works once Redis is back. Operations that cannot reach Redis, time out, or get an
/// unexpected reply throw `LockStorageError` naming the server and the operation.
///
/// A save whose reply is lost (timed out, connection dropped after sending) is settled in
/// the background: the lock ends up released unless the caller was told it was acquired.
/// The destructor waits for such settling (only when replies were lost): at most one command
/// timeout for late replies, then connect + 2 × command timeout for clean-ups.
///
/// Releases publish on the key's channel (`release_channel`); `save_waiting` listens there
/// (one subscriber connection per store, shared by all waiting threads) and also wakes when
/// the holder's lease runs out. A holder that does not publish (a Node.js Verrou process)
/// is noticed at the end of the caller's retry delay instead.
///
/// Thread safety: all members may be called concurrently; threads share pipelined
/// connections.
class RedisStore final : public LockStore,
                         public WaitableLockStore,
                         public FencingLockStore,
                         public SemaphoreStore,
                         public WaitableSemaphoreStore,
                         public ListableLockStore {
 public:
  /// Checks the options (throws `InvalidArgumentError` naming a bad one, e.g. an unreadable
  /// CA file) without connecting.
  explicit RedisStore(RedisStoreOptions options);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  /// `SET key owner PX ttl NX` (`SET key owner NX` for `forever`) in the script that also
  /// draws the fencing token. See `LockStore::save`.
  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override;
  /// As `save`, returning the acquisition's fencing token. See `FencingLockStore`.
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<Duration> ttl) override;
  /// Deletes the key if it holds `owner`, and announces the release. See `LockStore::remove`.
  void remove(const std::string& key, const std::string& owner) override;
  /// Deletes the key, and announces the release. See `LockStore::force_remove`.
  void force_remove(const std::string& key) override;
  /// `EXISTS key`. See `LockStore::exists`.
  bool exists(const std::string& key) override;
  /// `PEXPIRE key duration` if the key holds `owner`. See `LockStore::extend`.
  void extend(const std::string& key, const std::string& owner, Duration duration) override;
  /// `SCAN` over the prefix (every master of a cluster), leaving out the store's own keys
  /// (fencing counters, void markers, semaphores); the owner, `PTTL` and the key's fencing
  /// counter of each lock. See `ListableLockStore::list_locks`.
  std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) override;

  /// Waits on the key's release channel (and the holder's lease) between attempts; returns
  /// the fencing token too. Waiters are not queued: `waiting_since` is not used. See
  /// `WaitableLockStore::save_waiting`.
  std::optional<Acquired> save_waiting(
      const std::string& key, const std::string& owner, std::optional<Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;

  /// Admits `holder` to the semaphore `key` (a sorted set of holders scored by lease end and
  /// a hash of their limits, apart from the lock `key`) in one script that first drops the
  /// holders whose lease ended. See `SemaphoreStore::save_permit`.
  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<Duration> ttl) override;
  /// Gives the permit back and announces it. See `SemaphoreStore::remove_permit`.
  void remove_permit(const std::string& key, const std::string& holder) override;
  /// See `SemaphoreStore::extend_permit`.
  void extend_permit(const std::string& key, const std::string& holder,
                     Duration duration) override;
  /// Holders whose lease has not ended, by the server's clock. See
  /// `SemaphoreStore::count_permits`.
  std::uint32_t count_permits(const std::string& key) override;
  /// Waits on the semaphore's channel (and the first holder's lease) between attempts. See
  /// `WaitableSemaphoreStore::save_permit_waiting`.
  std::optional<Acquired> save_permit_waiting(
      const std::string& key, const std::string& holder, std::uint32_t limit,
      std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;

  /// Round trip to the server (to every master of a cluster). Throws `LockStorageError`
  /// when one cannot be reached; for readiness checks.
  void ping();

  /// The channel on which the release of `key` (without the key prefix) is announced:
  /// `verrou:released:<prefix><key>` in database 0, `verrou:released@<db>:<prefix><key>` in
  /// another.
  [[nodiscard]] std::string release_channel(std::string_view key) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A `StoreFactory` making a `RedisStore` with `options`.
StoreFactory redis_store(RedisStoreOptions options);

}  // namespace verrou
