// SPDX-License-Identifier: Apache-2.0
// The etcd store's semaphores. Each holder of semaphore `K` is one key,
// `<prefix>semaphore/<length of K>:K/<holder>`, whose value holds its expiry and the limit it
// was admitted under (lock_value.hpp), attached to a lease as a lock is.
//
// Counting and adding are one atomic step although etcd cannot count inside a transaction: the
// store reads every holder key of the semaphore (a linearizable range at revision R), counts
// the live ones, and adds its own key in a transaction whose condition is that no key of that
// range has a mod revision above R. etcd applies transactions one at a time, in revision
// order, so the condition holds only if no holder was added, extended or rewritten since the
// count: two processes that both counted a free permit cannot both add themselves (the
// second's condition sees the first's key, newer than R, and fails; it counts again). A
// holder released since R only makes the count an overestimate, never an underestimate.
//
// Who counts as a holder depends on the expiry mode (EtcdExpiry): in lease mode, every holder
// key present (etcd deletes a holder's key at its lease's end, no earlier than the holder's
// own expiration time); in clock mode, the keys whose expiry has not passed by this process's
// clock, and the same transaction deletes the others, so they do not pile up until etcd's
// leases remove them.
#include <algorithm>

#include "detail/owner.hpp"
#include "drivers/etcd/store_impl.hpp"
#include "verrou/semaphore.hpp"

namespace verrou {

Attempt EtcdStore::Impl::try_permit(const std::string& key, const std::string& holder,
                                    std::uint32_t limit, std::optional<Duration> ttl) {
  constexpr std::string_view kOp = "acquire (semaphore)";
  const std::string holders_prefix = semaphore_prefix(key);
  const std::string mine = holders_prefix + holder;
  const auto until = deadline();
  // This call's latest write, to recognise it after a lost answer.
  std::string last_write_id;
  std::chrono::system_clock::time_point last_written_at{};
  for (int round = 0; round < kMaxRounds; ++round) {
    Result r = call(kOp, key, "/v3/kv/range",
                    {{"key", detail::etcd::base64_encode(holders_prefix)},
                     {"range_end", detail::etcd::base64_encode(detail::etcd::prefix_end(holders_prefix))}},
                    until);
    if (!r.ok()) fail(kOp, key, r);
    std::int64_t revision = 0;
    std::vector<KeyValue> kvs;
    try {
      revision = detail::etcd::header_revision(r.body);
      kvs = detail::etcd::range_kvs(r.body);
    } catch (const detail::etcd::ProtocolError& e) {
      fail(kOp, key, std::string("unexpected answer: ") + e.what());
    }
    const std::int64_t read_ms = now_ms();
    std::uint32_t live = 0;
    std::uint32_t smallest = limit;
    std::optional<std::int64_t> soonest;  // the earliest expiry of a live holder
    std::vector<std::string> expired;
    for (const auto& kv : kvs) {
      const auto view = view_of(kOp, key, kv, Kind::permit);
      if (kv.key == mine) {
        const auto permit = detail::etcd::decode_permit(kv.value);
        if (permit && !last_write_id.empty() && permit->lease.write_id == last_write_id) {
          // An earlier attempt of this call was applied but its answer lost.
          held.remember(mine, *view);
          return detail::etcd::taken_at(last_written_at, 0);
        }
        // This holder's own key, judged by its own expiry (both modes): still live, it holds
        // a permit already; expired, the put below replaces it (never a second permit).
        if (live_at(*view, read_ms)) {
          return detail::etcd::not_taken(std::nullopt, true);
        }
        continue;
      }
      if (!holds(view->expires_at_ms, read_ms)) {
        // Clock mode: expired by this process's clock; deleted by the same transaction.
        expired.push_back(kv.key);
        continue;
      }
      ++live;
      smallest = std::min(smallest, view->limit);
      if (view->expires_at_ms) {
        soonest = soonest ? std::min(*soonest, *view->expires_at_ms) : *view->expires_at_ms;
      }
    }
    if (live >= smallest) {
      // Full: a waiter wakes at the earliest expiry, or on a release it watches.
      return detail::etcd::not_taken(soonest);
    }
    // Read before the lease is chosen: the lease ends no earlier than this instant + ttl.
    const auto written_at = now();
    const std::int64_t written_ms = detail::etcd::to_ms(written_at);
    const std::int64_t lease = lease_for(ttl, kOp, key, until);
    const detail::etcd::PermitRecord record{
        .lease = {.owner = holder,
                  .expires_at_ms = ttl ? std::optional(written_ms + ttl->count()) : std::nullopt,
                  .write_id = detail::new_owner_token()},
        .limit = limit};
    last_write_id = record.lease.write_id;
    last_written_at = written_at;
    json success = json::array();
    for (const auto& gone : expired) success.push_back(detail::etcd::op_delete(gone));
    success.push_back(detail::etcd::op_put(mine, detail::etcd::encode_permit(record), lease));
    const json request = detail::etcd::txn(
        json::array({detail::etcd::compare_prefix_mod_below(holders_prefix, revision + 1)}),
        std::move(success), json::array());
    Result w = call(kOp, key, "/v3/kv/txn", request, until);
    if (!w.ok()) {
      if (lease != 0 && w.code == detail::etcd::kCodeNotFound) {
        leases.forget(lease);
        continue;
      }
      fail(kOp, key, w);
    }
    TxnReply t;
    try {
      t = detail::etcd::parse_txn(w.body);
    } catch (const detail::etcd::ProtocolError& e) {
      fail(kOp, key, std::string("unexpected answer: ") + e.what());
    }
    if (t.succeeded) {
      held.remember(mine, View{.owner = holder,
                               .expires_at_ms = record.lease.expires_at_ms,
                               .mod_revision = t.revision,
                               .limit = limit});
      return detail::etcd::taken_at(written_at, 0);
    }
    // Another holder came, went or was extended since the count: count again.
  }
  // The holders kept changing: no permit this time (a waiter tries again).
  return detail::etcd::not_taken(std::nullopt);
}

bool EtcdStore::save_permit(const std::string& key, const std::string& holder,
                            std::uint32_t limit, std::optional<Duration> ttl) {
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
  return impl_->try_permit(key, holder, limit, ttl).taken;
}

std::optional<Acquired> EtcdStore::save_permit_waiting(
    const std::string& key, const std::string& holder, std::uint32_t limit,
    std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point /*waiting_since*/) {
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
  Attempt a = impl_->try_permit(key, holder, limit, ttl);
  if (a.taken) return Acquired{.written_at = a.written_at};
  if (a.held_already || Clock::now() >= until) return std::nullopt;

  // Watching every holder key of the semaphore before the next count, so a permit given back
  // between that count and the wait is seen.
  detail::etcd::Watcher::Interest interest(impl_->watcher, impl_->semaphore_prefix(key),
                                           detail::etcd::Watcher::Match::prefix);
  interest.wait_live(std::min(until, Clock::now() + impl_->client.request_timeout()));
  for (;;) {
    const std::uint64_t seen = interest.events();
    a = impl_->try_permit(key, holder, limit, ttl);
    if (a.taken) return Acquired{.written_at = a.written_at, .waited = true};
    const auto now = Clock::now();
    if (a.held_already || now >= until) return std::nullopt;
    auto wake_at = until;
    if (a.holder_expires_ms) {
      wake_at = std::min(wake_at, now + impl_->expiry_wake(a.holder_expires_ms));
    }
    if (!interest.live()) wake_at = std::min(wake_at, now + Duration(100));
    if (!interest.wait(seen, wake_at) && wake_at >= until) return std::nullopt;
  }
}

void EtcdStore::remove_permit(const std::string& key, const std::string& holder) {
  impl_->release_key(detail::etcd::Kind::permit, "semaphore permit", key,
                     impl_->semaphore_prefix(key) + holder, holder);
}

void EtcdStore::extend_permit(const std::string& key, const std::string& holder,
                              Duration duration) {
  validate_ttl(duration);
  impl_->extend_key(detail::etcd::Kind::permit, "semaphore permit", key,
                    impl_->semaphore_prefix(key) + holder, holder, duration);
}

std::uint32_t EtcdStore::count_permits(const std::string& key) {
  constexpr std::string_view kOp = "count (semaphore)";
  const std::string holders_prefix = impl_->semaphore_prefix(key);
  Result r = impl_->call(
      kOp, key, "/v3/kv/range",
      {{"key", detail::etcd::base64_encode(holders_prefix)},
       {"range_end", detail::etcd::base64_encode(detail::etcd::prefix_end(holders_prefix))}},
      impl_->deadline());
  if (!r.ok()) impl_->fail(kOp, key, r);
  std::vector<KeyValue> kvs;
  try {
    (void)detail::etcd::header_revision(r.body);
    kvs = detail::etcd::range_kvs(r.body);
  } catch (const detail::etcd::ProtocolError& e) {
    impl_->fail(kOp, key, std::string("unexpected answer: ") + e.what());
  }
  const std::int64_t now_ms = impl_->now_ms();
  std::uint32_t live = 0;
  for (const auto& kv : kvs) {
    const auto view = impl_->view_of(kOp, key, kv, detail::etcd::Kind::permit);
    if (impl_->holds(view->expires_at_ms, now_ms)) ++live;
  }
  return live;
}

}  // namespace verrou
