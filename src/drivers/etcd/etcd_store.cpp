// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/etcd.hpp"

#include <chrono>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/owner.hpp"
#include "detail/text.hpp"
#include "drivers/etcd/client.hpp"
#include "drivers/etcd/held_locks.hpp"
#include "drivers/etcd/lease_pool.hpp"
#include "drivers/etcd/lock_value.hpp"
#include "drivers/etcd/options.hpp"
#include "drivers/etcd/protocol.hpp"
#include "drivers/etcd/watcher.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {
namespace {

using detail::etcd::Client;
using View = detail::etcd::HeldLocks::Entry;
using detail::etcd::Clock;
using detail::etcd::json;
using detail::etcd::KeyValue;
using detail::etcd::LockRecord;
using detail::etcd::Result;
using detail::etcd::TxnReply;

constexpr std::string_view kLockSpace = "lock/";
// Rounds of "read, judge, write conditioned on what was read" before giving up on a key that
// keeps changing under the caller (each round means another client changed it).
constexpr int kMaxRounds = 16;

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

[[noreturn]] void not_owned(const std::string& key, std::string_view action) {
  throw LockNotOwnedError("etcd store: cannot " + std::string(action) + " the lock on " +
                          detail::quote(key) +
                          ": this owner does not hold it (never acquired, already released, or "
                          "expired and perhaps taken by another owner)");
}

// What an acquisition attempt found.
struct Attempt {
  bool taken = false;
  std::uint64_t token = 0;                      // when taken
  std::chrono::system_clock::time_point written_at{};
  std::optional<std::int64_t> holder_expires_ms;  // when not taken; nullopt: never
};

}  // namespace

struct EtcdStore::Impl {
  explicit Impl(const EtcdStoreOptions& options)
      : prefix(options.prefix),
        operation_timeout(options.operation_timeout),
        client(detail::etcd::client_options(options)),
        leases(client),
        watcher(client, options.prefix) {}

  std::string prefix;
  Duration operation_timeout;
  Client client;
  detail::etcd::LeasePool leases;
  detail::etcd::Watcher watcher;
  detail::etcd::HeldLocks held;

  [[nodiscard]] Clock::time_point deadline() const { return Clock::now() + operation_timeout; }

  [[nodiscard]] std::string full_key(const std::string& key) const {
    validate_key(key);
    std::string out = prefix;
    out += kLockSpace;
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

  // The lock as `kv` holds it (nullopt: absent).
  std::optional<View> view_of(std::string_view operation, const std::string& key,
                              const std::optional<KeyValue>& kv) {
    if (!kv) return std::nullopt;
    LockRecord record = decode(operation, key, *kv);
    return View{.owner = std::move(record.owner),
                .expires_at_ms = record.expires_at_ms,
                .mod_revision = kv->mod_revision};
  }

  // What this store wrote last for `owner` at `full` when that is still live by its expiry
  // (used optimistically: the write is conditioned on its revision), or else the key as etcd
  // has it now. Only what etcd answered decides that a lock is not held: another process may
  // have extended it with a restored lock since.
  std::optional<View> current(std::string_view operation, const std::string& key,
                              const std::string& full, const std::string& owner,
                              Clock::time_point until) {
    if (auto remembered = held.find(full, owner); remembered && live(*remembered)) {
      return remembered;
    }
    return view_of(operation, key, read(operation, key, full, until));
  }

  static bool live(const View& view) {
    return !view.expires_at_ms || epoch_ms_now() < *view.expires_at_ms;
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

  // One acquisition: create the key if absent; if its holder's lease has run out, delete it
  // (conditioned on that very write) and try again.
  Attempt try_take(const std::string& key, const std::string& full, const std::string& owner,
                   std::optional<Duration> ttl) {
    constexpr std::string_view kOp = "acquire";
    const auto until = deadline();
    for (int round = 0; round < kMaxRounds; ++round) {
      const auto written_at = std::chrono::system_clock::now();
      const std::int64_t now_ms = to_ms(written_at);
      const std::int64_t lease = lease_for(ttl, kOp, key, until);
      const LockRecord record{
          .owner = owner,
          .expires_at_ms = ttl ? std::optional(now_ms + ttl->count()) : std::nullopt,
          .write_id = detail::new_owner_token()};
      const json request = detail::etcd::txn(
          json::array({detail::etcd::compare_create_revision(full, 0)}),
          json::array({detail::etcd::op_put(full, detail::etcd::encode_lock(record), lease)}),
          json::array({detail::etcd::op_range(full)}));
      Result r = call(kOp, key, "/v3/kv/txn", request, until);
      if (!r.ok()) {
        if (lease != 0 && r.code == detail::etcd::kCodeNotFound) {
          leases.forget(lease);  // etcd no longer knows the lease: take another
          continue;
        }
        fail(kOp, key, r);
      }
      TxnReply t;
      try {
        t = detail::etcd::parse_txn(r.body);
      } catch (const detail::etcd::ProtocolError& e) {
        fail(kOp, key, std::string("unexpected answer: ") + e.what());
      }
      if (t.succeeded) {
        held.remember(full, View{.owner = owner,
                                 .expires_at_ms = record.expires_at_ms,
                                 .mod_revision = t.revision});
        return Attempt{.taken = true,
                       .token = static_cast<std::uint64_t>(t.revision),
                       .written_at = written_at,
                       .holder_expires_ms = std::nullopt};
      }
      const auto kv = first(kOp, key, t, 0);
      if (!kv) continue;  // cannot happen (the compare and the read are one transaction)
      const LockRecord holder = decode(kOp, key, *kv);
      if (holder.owner == owner && holder.write_id == record.write_id) {
        // An earlier attempt of this very call was applied but its answer lost.
        held.remember(full, View{.owner = owner,
                                 .expires_at_ms = record.expires_at_ms,
                                 .mod_revision = kv->mod_revision});
        return Attempt{.taken = true,
                       .token = static_cast<std::uint64_t>(kv->create_revision),
                       .written_at = written_at,
                       .holder_expires_ms = std::nullopt};
      }
      if (holder.live(epoch_ms_now())) {
        return Attempt{.taken = false,
                       .token = 0,
                       .written_at = {},
                       .holder_expires_ms = holder.expires_at_ms};
      }
      // The holder's lease ran out and etcd has not removed the key yet. Delete it, so the
      // next holder creates the key anew and gets a greater create revision as its token.
      txn(kOp, key,
          detail::etcd::txn(json::array({detail::etcd::compare_mod_revision(full, kv->mod_revision)}),
                            json::array({detail::etcd::op_delete(full)}), json::array()),
          until);
    }
    fail(kOp, key, "the key kept changing under this call (" + std::to_string(kMaxRounds) +
                       " rounds)");
  }
};

EtcdStoreOptions EtcdStoreOptions::from_url(std::string_view url) {
  return detail::etcd::options_from_url(detail::parse_url(url));
}

EtcdStore::EtcdStore(EtcdStoreOptions options) {
  detail::etcd::validate(options);
  impl_ = std::make_unique<Impl>(options);
}

EtcdStore::~EtcdStore() = default;

std::string EtcdStore::lock_key(std::string_view key) const {
  return impl_->prefix + std::string(kLockSpace) + std::string(key);
}

std::string EtcdStore::describe() const { return impl_->client.endpoints().describe(); }

bool EtcdStore::save(const std::string& key, const std::string& owner,
                     std::optional<Duration> ttl) {
  return save_fenced(key, owner, ttl).has_value();
}

std::optional<std::uint64_t> EtcdStore::save_fenced(const std::string& key,
                                                    const std::string& owner,
                                                    std::optional<Duration> ttl) {
  const std::string full = impl_->full_key(key);
  validate_ttl(ttl);
  const Attempt a = impl_->try_take(key, full, owner, ttl);
  if (!a.taken) return std::nullopt;
  return a.token;
}

std::optional<Acquired> EtcdStore::save_waiting(
    const std::string& key, const std::string& owner, std::optional<Duration> ttl,
    std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point /*waiting_since*/) {
  const std::string full = impl_->full_key(key);
  validate_ttl(ttl);
  auto taken = [](const Attempt& a) {
    return Acquired{.written_at = a.written_at, .fencing_token = a.token};
  };
  Attempt a = impl_->try_take(key, full, owner, ttl);
  if (a.taken) return taken(a);
  if (Clock::now() >= until) return std::nullopt;

  // Watching before the next look, so a release between that look and the wait is seen.
  detail::etcd::Watcher::Interest interest(impl_->watcher, full);
  interest.wait_live(std::min(until, Clock::now() + impl_->client.request_timeout()));
  for (;;) {
    const std::uint64_t seen = interest.events();
    a = impl_->try_take(key, full, owner, ttl);
    if (a.taken) return taken(a);
    const auto now = Clock::now();
    if (now >= until) return std::nullopt;
    auto wake_at = until;
    if (a.holder_expires_ms) {
      // Also wake when the holder's lease runs out, deleted by etcd or not.
      const auto left = Duration(*a.holder_expires_ms - epoch_ms_now() + 1);
      wake_at = std::min(wake_at, now + std::max(left, Duration(1)));
    }
    if (!interest.live()) {
      // No stream (a member down, or it is starting): look again now and then.
      wake_at = std::min(wake_at, now + Duration(100));
    }
    if (!interest.wait(seen, wake_at) && wake_at >= until) return std::nullopt;
  }
}

void EtcdStore::remove(const std::string& key, const std::string& owner) {
  constexpr std::string_view kOp = "release";
  const std::string full = impl_->full_key(key);
  const auto until = impl_->deadline();
  auto view = impl_->current(kOp, key, full, owner, until);
  bool may_have_applied = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    if (!view || view->owner != owner || !Impl::live(*view)) {
      impl_->held.forget(full);
      // Gone or changed after an earlier attempt of this call whose answer was lost: that
      // attempt released the lock (a release that released never throws). Otherwise it was
      // never held, already released, expired, or force released.
      if (may_have_applied) return;
      not_owned(key, "release");
    }
    Result raw;
    const TxnReply t = impl_->txn(
        kOp, key,
        detail::etcd::txn(json::array({detail::etcd::compare_mod_revision(full, view->mod_revision)}),
                          json::array({detail::etcd::op_delete(full)}),
                          json::array({detail::etcd::op_range(full)})),
        until, &raw);
    if (t.succeeded) {
      impl_->held.forget(full);
      return;
    }
    may_have_applied = may_have_applied || raw.may_have_applied;
    view = impl_->view_of(kOp, key, impl_->first(kOp, key, t, 0));
  }
  impl_->fail(kOp, key, "the key kept changing under this call");
}

void EtcdStore::force_remove(const std::string& key) {
  constexpr std::string_view kOp = "force release";
  const std::string full = impl_->full_key(key);
  impl_->held.forget(full);
  const Result r = impl_->call(kOp, key, "/v3/kv/deleterange",
                               {{"key", detail::etcd::base64_encode(full)}}, impl_->deadline());
  if (!r.ok()) impl_->fail(kOp, key, r);
}

bool EtcdStore::exists(const std::string& key) {
  constexpr std::string_view kOp = "exists";
  const std::string full = impl_->full_key(key);
  const auto kv = impl_->read(kOp, key, full, impl_->deadline());
  if (!kv) return false;
  return impl_->decode(kOp, key, *kv).live(epoch_ms_now());
}

void EtcdStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  constexpr std::string_view kOp = "extend";
  const std::string full = impl_->full_key(key);
  validate_ttl(duration);
  const auto until = impl_->deadline();
  auto view = impl_->current(kOp, key, full, owner, until);
  for (int round = 0; round < kMaxRounds; ++round) {
    if (!view || view->owner != owner || !Impl::live(*view)) {
      impl_->held.forget(full);
      not_owned(key, "extend");
    }
    const std::int64_t now_ms = epoch_ms_now();
    // A lease covering the new duration: the key moves to it in the same write.
    const std::int64_t lease = impl_->lease_for(duration, kOp, key, until);
    const LockRecord record{.owner = owner,
                            .expires_at_ms = now_ms + duration.count(),
                            .write_id = detail::new_owner_token()};
    const json request = detail::etcd::txn(
        json::array({detail::etcd::compare_mod_revision(full, view->mod_revision)}),
        json::array({detail::etcd::op_put(full, detail::etcd::encode_lock(record), lease)}),
        json::array({detail::etcd::op_range(full)}));
    Result r = impl_->call(kOp, key, "/v3/kv/txn", request, until);
    if (!r.ok()) {
      if (r.code == detail::etcd::kCodeNotFound) {
        impl_->leases.forget(lease);
        continue;
      }
      impl_->fail(kOp, key, r);
    }
    TxnReply t;
    try {
      t = detail::etcd::parse_txn(r.body);
    } catch (const detail::etcd::ProtocolError& e) {
      impl_->fail(kOp, key, std::string("unexpected answer: ") + e.what());
    }
    if (t.succeeded) {
      impl_->held.remember(full, View{.owner = owner,
                                      .expires_at_ms = record.expires_at_ms,
                                      .mod_revision = t.revision});
      return;
    }
    const auto kv = impl_->first(kOp, key, t, 0);
    if (kv) {
      const LockRecord now_there = impl_->decode(kOp, key, *kv);
      // This call's own write, applied by an attempt whose answer was lost.
      if (now_there.owner == owner && now_there.write_id == record.write_id) {
        impl_->held.remember(full, View{.owner = owner,
                                        .expires_at_ms = record.expires_at_ms,
                                        .mod_revision = kv->mod_revision});
        return;
      }
    }
    view = impl_->view_of(kOp, key, kv);
  }
  impl_->fail(kOp, key, "the key kept changing under this call");
}

void EtcdStore::ping() {
  const Result r = impl_->client.call(
      "/v3/kv/range",
      {{"key", detail::etcd::base64_encode(impl_->prefix)}, {"keys_only", true}, {"limit", "1"}},
      impl_->deadline());
  if (!r.ok()) {
    throw LockStorageError("etcd store: ping of " + impl_->client.describe() +
                           " failed: " + r.message);
  }
}

StoreFactory etcd_store(EtcdStoreOptions options) {
  detail::etcd::validate(options);
  return StoreFactory{
      .driver = "etcd",
      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
        return std::make_shared<EtcdStore>(options);
      },
  };
}

namespace detail {

void register_etcd_driver(DriverRegistry& registry) {
  for (const char* scheme : {"etcd", "etcds"}) {
    registry.add(scheme, [](const Url& url) -> std::shared_ptr<LockStore> {
      return std::make_shared<EtcdStore>(etcd::options_from_url(url));
    });
  }
}

}  // namespace detail
}  // namespace verrou
