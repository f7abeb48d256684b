// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/etcd.hpp"

#include <chrono>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/owner.hpp"
#include "detail/store_factory.hpp"
#include "drivers/etcd/store_impl.hpp"
#include "verrou/open_store.hpp"

namespace verrou {

Attempt EtcdStore::Impl::try_take(const std::string& key, const std::string& full,
                                  const std::string& owner, std::optional<Duration> ttl) {
  constexpr std::string_view kOp = "acquire";
  const auto until = deadline();
  for (int round = 0; round < kMaxRounds; ++round) {
    // Read before the lease is chosen: the lease ends no earlier than this instant + ttl.
    const auto written_at = now();
    const std::int64_t written_ms = detail::etcd::to_ms(written_at);
    const std::int64_t lease = lease_for(ttl, kOp, key, until);
    const LockRecord record{
        .owner = owner,
        .expires_at_ms = ttl ? std::optional(written_ms + ttl->count()) : std::nullopt,
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
    if (holds(holder.expires_at_ms, now_ms())) {
      return Attempt{.taken = false,
                     .token = 0,
                     .written_at = {},
                     .holder_expires_ms = holder.expires_at_ms};
    }
    // Clock mode: the holder's lease ran out and etcd has not removed the key yet. Delete it,
    // so the next holder creates the key anew and gets a greater create revision as its token.
    txn(kOp, key,
        detail::etcd::txn(json::array({detail::etcd::compare_mod_revision(full, kv->mod_revision)}),
                          json::array({detail::etcd::op_delete(full)}), json::array()),
        until);
  }
  fail(kOp, key, "the key kept changing under this call (" + std::to_string(kMaxRounds) +
                     " rounds)");
}

EtcdStoreOptions EtcdStoreOptions::from_url(std::string_view url) {
  return detail::etcd::options_from_url(detail::parse_url(url));
}

EtcdStore::EtcdStore(EtcdStoreOptions options) {
  detail::etcd::validate(options);
  impl_ = std::make_unique<Impl>(options);
}

EtcdStore::~EtcdStore() = default;

std::string EtcdStore::lock_key(std::string_view key) const {
  return impl_->prefix + std::string(detail::etcd::kLockSpace) + std::string(key);
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
    if (a.taken) {
      return Acquired{.written_at = a.written_at, .fencing_token = a.token, .waited = true};
    }
    const auto now = Clock::now();
    if (now >= until) return std::nullopt;
    auto wake_at = std::min(until, now + impl_->expiry_wake(a.holder_expires_ms));
    if (!interest.live()) {
      // No stream (a member down, or it is starting): look again now and then.
      wake_at = std::min(wake_at, now + Duration(100));
    }
    if (!interest.wait(seen, wake_at) && wake_at >= until) return std::nullopt;
  }
}

void EtcdStore::remove(const std::string& key, const std::string& owner) {
  impl_->release_key(detail::etcd::Kind::lock, "lock", key, impl_->full_key(key), owner);
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
  return impl_->holds(impl_->decode(kOp, key, *kv).expires_at_ms, impl_->now_ms());
}

void EtcdStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  validate_ttl(duration);
  impl_->extend_key(detail::etcd::Kind::lock, "lock", key, impl_->full_key(key), owner,
                    duration);
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
  return detail::store_factory<EtcdStore>("etcd", std::move(options));
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
