// SPDX-License-Identifier: Apache-2.0
// Release and extend of a key held by an owner, for locks and semaphore holders alike: a
// transaction conditioned on the key's mod revision (the one this store last wrote, or the
// one just read), whose failure branch reads the key again so a change is judged without
// another round trip, and a write id that lets a retried request recognise its own write.
#include "detail/owner.hpp"
#include "drivers/etcd/store_impl.hpp"

namespace verrou {
namespace {

[[noreturn]] void not_owned(std::string_view what, const std::string& key,
                            std::string_view action) {
  throw LockNotOwnedError("etcd store: cannot " + std::string(action) + " the " +
                          std::string(what) + " on " + detail::quote(key) +
                          ": this owner does not hold it (never acquired, already released, or "
                          "expired and perhaps taken by another owner)");
}

// The write id in a lock's or a holder's value ("" when it has none).
std::string write_id_of(Kind kind, std::string_view value) {
  if (kind == Kind::permit) {
    const auto permit = detail::etcd::decode_permit(value);
    return permit ? permit->lease.write_id : std::string();
  }
  const auto lock = detail::etcd::decode_lock(value);
  return lock ? lock->write_id : std::string();
}

}  // namespace

void EtcdStore::Impl::release_key(Kind kind, std::string_view what, const std::string& key,
                                  const std::string& full, const std::string& owner) {
  constexpr std::string_view kOp = "release";
  const auto until = deadline();
  auto view = current(kOp, key, full, owner, until, kind);
  bool may_have_applied = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    if (!view || view->owner != owner || !live(*view)) {
      held.forget(full);
      // Gone or changed after an earlier attempt of this call whose answer was lost: that
      // attempt released the lock (a release that released never throws). Otherwise it was
      // never held, already released, expired, or force released.
      if (may_have_applied) return;
      not_owned(what, key, "release");
    }
    Result raw;
    const TxnReply t = txn(
        kOp, key,
        detail::etcd::txn(json::array({detail::etcd::compare_mod_revision(full, view->mod_revision)}),
                          json::array({detail::etcd::op_delete(full)}),
                          json::array({detail::etcd::op_range(full)})),
        until, &raw);
    if (t.succeeded) {
      held.forget(full);
      return;
    }
    may_have_applied = may_have_applied || raw.may_have_applied;
    view = view_of(kOp, key, first(kOp, key, t, 0), kind);
  }
  fail(kOp, key, "the key kept changing under this call");
}

void EtcdStore::Impl::extend_key(Kind kind, std::string_view what, const std::string& key,
                                 const std::string& full, const std::string& owner,
                                 Duration duration) {
  constexpr std::string_view kOp = "extend";
  const auto until = deadline();
  auto view = current(kOp, key, full, owner, until, kind);
  for (int round = 0; round < kMaxRounds; ++round) {
    if (!view || view->owner != owner || !live(*view)) {
      held.forget(full);
      not_owned(what, key, "extend");
    }
    // Read before the lease is chosen: the lease ends no earlier than this instant + duration.
    const std::int64_t written_ms = now_ms();
    // A lease covering the new duration: the key moves to it in the same write.
    const std::int64_t lease = lease_for(duration, kOp, key, until);
    const LockRecord record{.owner = owner,
                            .expires_at_ms = written_ms + duration.count(),
                            .write_id = detail::new_owner_token()};
    const json request = detail::etcd::txn(
        json::array({detail::etcd::compare_mod_revision(full, view->mod_revision)}),
        json::array({detail::etcd::op_put(
            full,
            kind == Kind::permit
                ? detail::etcd::encode_permit({.lease = record, .limit = view->limit})
                : detail::etcd::encode_lock(record),
            lease)}),
        json::array({detail::etcd::op_range(full)}));
    Result r = call(kOp, key, "/v3/kv/txn", request, until);
    if (!r.ok()) {
      if (r.code == detail::etcd::kCodeNotFound) {
        leases.forget(lease);
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
                               .mod_revision = t.revision,
                               .limit = view->limit});
      return;
    }
    const auto kv = first(kOp, key, t, 0);
    if (kv) {
      const std::string written_id = write_id_of(kind, kv->value);
      // This call's own write, applied by an attempt whose answer was lost.
      if (!written_id.empty() && written_id == record.write_id) {
        held.remember(full, View{.owner = owner,
                                        .expires_at_ms = record.expires_at_ms,
                                        .mod_revision = kv->mod_revision,
                                        .limit = view->limit});
        return;
      }
    }
    view = view_of(kOp, key, kv, kind);
  }
  fail(kOp, key, "the key kept changing under this call");
}

}  // namespace verrou
