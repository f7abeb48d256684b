// SPDX-License-Identifier: Apache-2.0
// The etcd store's state and the steps its operations share (calls with their errors turned
// into exceptions, quorum reads, values decoded, leases), used by the locks (etcd_store.cpp)
// and the semaphores (semaphore_store.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "detail/text.hpp"
#include "drivers/etcd/client.hpp"
#include "drivers/etcd/held_locks.hpp"
#include "drivers/etcd/lease_pool.hpp"
#include "drivers/etcd/lock_value.hpp"
#include "drivers/etcd/options.hpp"
#include "drivers/etcd/protocol.hpp"
#include "drivers/etcd/watcher.hpp"
#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace detail::etcd {

using View = HeldLocks::Entry;

// Where locks and semaphores live under the store's prefix.
inline constexpr std::string_view kLockSpace = "lock/";
inline constexpr std::string_view kSemaphoreSpace = "semaphore/";

enum class Kind { lock, permit };

// Rounds of "read, judge, write conditioned on what was read" before giving up on a key that
// keeps changing under the caller (each round means another client changed it).
inline constexpr int kMaxRounds = 16;

// What an acquisition attempt found.
struct Attempt {
  bool taken = false;
  std::uint64_t token = 0;                        // when taken
  std::chrono::system_clock::time_point written_at{};
  std::optional<std::int64_t> holder_expires_ms;  // when not taken, as written; nullopt: never
  bool held_already = false;  // a permit: this holder already has one
};

inline Attempt taken_at(std::chrono::system_clock::time_point written_at, std::uint64_t token) {
  return Attempt{.taken = true,
                 .token = token,
                 .written_at = written_at,
                 .holder_expires_ms = std::nullopt,
                 .held_already = false};
}

inline Attempt not_taken(std::optional<std::int64_t> holder_expires_ms, bool held_already = false) {
  return Attempt{.taken = false,
                 .token = 0,
                 .written_at = {},
                 .holder_expires_ms = holder_expires_ms,
                 .held_already = held_already};
}

inline std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace detail::etcd

using detail::etcd::Attempt;
using detail::etcd::Client;
using detail::etcd::Clock;
using detail::etcd::json;
using detail::etcd::Kind;
using detail::etcd::KeyValue;
using detail::etcd::kMaxRounds;
using detail::etcd::LockRecord;
using detail::etcd::Result;
using detail::etcd::TxnReply;
using detail::etcd::View;

struct EtcdStore::Impl {
  explicit Impl(const EtcdStoreOptions& options)
      : prefix(options.prefix),
        operation_timeout(options.operation_timeout),
        expiry(options.expiry),
        wall_clock(options.clock),
        client(detail::etcd::client_options(options)),
        leases(client, options.expiry),
        watcher(client, options.prefix) {}

  std::string prefix;
  Duration operation_timeout;
  EtcdExpiry expiry;
  std::function<std::chrono::system_clock::time_point()> wall_clock;  // empty: the system's
  Client client;
  detail::etcd::LeasePool leases;
  detail::etcd::Watcher watcher;
  detail::etcd::HeldLocks held;

  [[nodiscard]] Clock::time_point deadline() const { return Clock::now() + operation_timeout; }

  [[nodiscard]] std::string full_key(const std::string& key) const {
    validate_key(key);
    std::string out = prefix;
    out += detail::etcd::kLockSpace;
    out += key;
    return out;
  }

  // The one place etcd failures become exceptions.
  [[noreturn]] void fail(std::string_view operation, const std::string& key,
                         const std::string& why) const {
    throw LockStorageError("etcd store: " + std::string(operation) + " of the lock on " +
                           detail::quote(key) + " at " + client.describe() + " failed: " + why);
  }
  [[noreturn]] void fail(std::string_view operation, const std::string& key,
                         const Result& r) const {
    std::string why = r.message;
    if (r.kind == Result::Kind::unavailable) {
      why = "no member served the request within " + format_duration(operation_timeout) +
            " (last: " + r.message + ")";
    } else if (r.code == detail::etcd::kCodePermissionDenied) {
      why += " (the etcd user lacks read/write permission on the prefix " +
             detail::quote(prefix) + ")";
    }
    fail(operation, key, why);
  }

  Result call(std::string_view operation, const std::string& key, std::string_view path,
              const json& request, Clock::time_point until) {
    try {
      return client.call(path, request, until);
    } catch (const LockStorageError& e) {
      fail(operation, key, e.what());
    }
  }

  TxnReply txn(std::string_view operation, const std::string& key, const json& request,
               Clock::time_point until, Result* raw = nullptr) {
    Result r = call(operation, key, "/v3/kv/txn", request, until);
    if (!r.ok()) fail(operation, key, r);
    try {
      TxnReply t = detail::etcd::parse_txn(r.body);
      if (raw != nullptr) *raw = std::move(r);
      return t;
    } catch (const detail::etcd::ProtocolError& e) {
      fail(operation, key, std::string("unexpected answer: ") + e.what());
    }
  }

  std::optional<KeyValue> first(std::string_view operation, const std::string& key,
                                const TxnReply& t, std::size_t index) {
    try {
      auto kvs = detail::etcd::txn_range(t, index);
      if (kvs.empty()) return std::nullopt;
      return std::move(kvs.front());
    } catch (const detail::etcd::ProtocolError& e) {
      fail(operation, key, std::string("unexpected answer: ") + e.what());
    }
  }

  // The lock at `full` as etcd has it now (a quorum read), or nullopt when absent.
  std::optional<KeyValue> read(std::string_view operation, const std::string& key,
                               const std::string& full, Clock::time_point until) {
    Result r = call(operation, key, "/v3/kv/range", {{"key", detail::etcd::base64_encode(full)}},
                    until);
    if (!r.ok()) fail(operation, key, r);
    try {
      (void)detail::etcd::header_revision(r.body);
      auto kvs = detail::etcd::range_kvs(r.body);
      if (kvs.empty()) return std::nullopt;
      return std::move(kvs.front());
    } catch (const detail::etcd::ProtocolError& e) {
      fail(operation, key, std::string("unexpected answer: ") + e.what());
    }
  }

  LockRecord decode(std::string_view operation, const std::string& key, const KeyValue& kv) {
    auto record = detail::etcd::decode_lock(kv.value);
    if (!record) {
      fail(operation, key,
           "the etcd key " + detail::quote(kv.key) +
               " holds a value that is not a verrou lock (is another program writing under the "
               "prefix " + detail::quote(prefix) + "?)");
    }
    return std::move(*record);
  }

  // The lock (or semaphore holder) as `kv` holds it (nullopt: absent).
  std::optional<View> view_of(std::string_view operation, const std::string& key,
                              const std::optional<KeyValue>& kv, Kind kind = Kind::lock) {
    if (!kv) return std::nullopt;
    if (kind == Kind::permit) {
      auto permit = detail::etcd::decode_permit(kv->value);
      if (!permit) {
        fail(operation, key,
             "the etcd key " + detail::quote(kv->key) +
                 " holds a value that is not a verrou semaphore holder (is another program "
                 "writing under the prefix " + detail::quote(prefix) + "?)");
      }
      return View{.owner = std::move(permit->lease.owner),
                  .expires_at_ms = permit->lease.expires_at_ms,
                  .mod_revision = kv->mod_revision,
                  .limit = permit->limit};
    }
    LockRecord record = decode(operation, key, *kv);
    return View{.owner = std::move(record.owner),
                .expires_at_ms = record.expires_at_ms,
                .mod_revision = kv->mod_revision,
                .limit = 0};
  }

  // What this store wrote last for `owner` at `full` when that is still live by its expiry
  // (used optimistically: the write is conditioned on its revision), or else the key as etcd
  // has it now. Only what etcd answered decides that a lock is not held: another process may
  // have extended it with a restored lock since.
  std::optional<View> current(std::string_view operation, const std::string& key,
                              const std::string& full, const std::string& owner,
                              Clock::time_point until, Kind kind = Kind::lock) {
    if (auto remembered = held.find(full, owner); remembered && live(*remembered)) {
      return remembered;
    }
    return view_of(operation, key, read(operation, key, full, until), kind);
  }

  // The wall clock expiry times are written and judged by.
  [[nodiscard]] std::chrono::system_clock::time_point now() const {
    return wall_clock ? wall_clock() : std::chrono::system_clock::now();
  }
  [[nodiscard]] std::int64_t now_ms() const { return detail::etcd::to_ms(now()); }

  static bool live_at(const View& view, std::int64_t now_ms) {
    return !view.expires_at_ms || now_ms < *view.expires_at_ms;
  }
  // The holder's own judgement of its own lock or permit (release, extend, a second acquire):
  // not past the expiration time it wrote, by this process's clock. In both modes: a holder
  // past its own expiration time must not believe it still holds. (In lease mode a wrong
  // clock here can only refuse early, or keep a key nobody else could have taken meanwhile.)
  [[nodiscard]] bool live(const View& view) const { return live_at(view, now_ms()); }
  // Whether another holder's key, as read, still holds the lock: in lease mode, always (only
  // etcd's deletion at the lease's end frees it, so no clock is compared with another
  // machine's); in clock mode, until the expiry in its value by this process's clock.
  [[nodiscard]] bool holds(const std::optional<std::int64_t>& expires_at_ms,
                           std::int64_t now_ms) const {
    return expiry == EtcdExpiry::lease || !expires_at_ms || now_ms < *expires_at_ms;
  }

  // How long a waiter sleeps, when no deletion wakes it, before looking again at a key (or a
  // semaphore) whose holder wrote `holder_expires_ms` (nullopt: never). In clock mode, until
  // that expiry: the key is free then, deleted or not. In lease mode the watched deletion is
  // what frees it; the look a second past the holder's expiry is only a fallback, for a
  // deletion the stream would somehow not report.
  [[nodiscard]] Duration expiry_wake(const std::optional<std::int64_t>& holder_expires_ms) const {
    constexpr Duration kLongest = std::chrono::hours(1);
    constexpr Duration kLeaseFallback{1000};
    if (!holder_expires_ms) return kLongest;
    const Duration left(*holder_expires_ms - now_ms() + 1);
    if (expiry == EtcdExpiry::lease) {
      return std::clamp(left + kLeaseFallback, kLeaseFallback, kLongest);
    }
    return std::clamp(left, Duration(1), kLongest);
  }

  std::int64_t lease_for(std::optional<Duration> ttl, std::string_view operation,
                         const std::string& key, Clock::time_point until) {
    if (!ttl) return 0;
    try {
      return leases.lease_for(*ttl, until);
    } catch (const LockStorageError& e) {
      fail(operation, key, e.what());
    }
  }

  // Release and extend of a key held by `owner` (a lock, or a semaphore holder's key):
  // conditioned on the revision last written or read, the failure branch reading the key
  // again. `what` names the thing in messages ("lock", "permit"). Defined in owned_keys.cpp.
  void release_key(Kind kind, std::string_view what, const std::string& key,
                   const std::string& full, const std::string& owner);
  void extend_key(Kind kind, std::string_view what, const std::string& key,
                  const std::string& full, const std::string& owner, Duration duration);

  // The prefix of semaphore `key`'s holder keys: `<prefix>semaphore/<length of key>:<key>/`
  // (the length makes one semaphore's prefix never a prefix of another's).
  [[nodiscard]] std::string semaphore_prefix(const std::string& key) const {
    validate_key(key);
    return prefix + std::string(detail::etcd::kSemaphoreSpace) + std::to_string(key.size()) +
           ":" + key + "/";
  }

  // One attempt at a permit: read the holders, and when there is room add this one in a
  // transaction conditioned on no holder key having changed since. Defined in
  // semaphore_store.cpp.
  detail::etcd::Attempt try_permit(const std::string& key, const std::string& holder,
                                   std::uint32_t limit, std::optional<Duration> ttl);

  // One acquisition: create the key if absent. In clock mode, when its holder's expiry has
  // passed by this process's clock, delete it (conditioned on that very write) and try again;
  // in lease mode a present key is held until etcd deletes it. Defined in etcd_store.cpp.
  detail::etcd::Attempt try_take(const std::string& key, const std::string& full,
                                 const std::string& owner, std::optional<Duration> ttl);

};

}  // namespace verrou
