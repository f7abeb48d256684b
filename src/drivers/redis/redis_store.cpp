// SPDX-License-Identifier: Apache-2.0
// src/drivers/redis: the Redis store (standalone, Cluster, TLS) over the store's own client.
//
// This file holds the store's lock operations; redis_semaphores.cpp its semaphores, and
// store_impl what both share. Beside them: store_options.cpp (URLs, option checks),
// router (which server runs a command; cluster_map for the slot map, hash_slot for CRC16),
// multiplexer and pipeline (threads sharing pipelined connections), connection (socket, TLS
// in tls, AUTH), reply (RESP through hiredis), drainer (late replies on stalled connections),
// outcome_resolver (settling commands whose reply was lost), subscriber (release
// announcements), scripts (the Lua) and data_layout (what is stored where).
#include <algorithm>
#include <utility>

#include "detail/owner.hpp"
#include "detail/store_factory.hpp"
#include "drivers/redis/data_layout.hpp"
#include "drivers/redis/redis_errors.hpp"
#include "drivers/redis/store_impl.hpp"
#include "drivers/redis/store_options.hpp"
#include "verrou/drivers/redis.hpp"
#include "verrou/errors.hpp"

namespace verrou {

namespace {

using detail::redis::Cleanup;
using detail::redis::Clock;
using detail::redis::Deadline;
using detail::redis::Reply;
using detail::redis::ReplyLostError;
using detail::redis::storage_failure;

std::string not_owned_message(const std::string& key) {
  return "lock \"" + key +
         "\" is not held by this owner: it was released, expired, or taken by another owner";
}

}  // namespace

detail::redis::SaveOutcome RedisStore::Impl::save_once(const std::string& full,
                                                      const std::string& owner,
                                                      std::optional<Duration> ttl,
                                                      std::string_view operation) {
  const auto& c = options.connection;
  if (!resolver.wait_settled(full, owner, Clock::now() + c.connect_timeout + c.command_timeout)) {
    storage_failure(router.describe(), operation,
                    "an earlier attempt of this owner on key \"" + full +
                        "\" lost its reply and is still being settled; try again later");
  }
  const std::string attempt = detail::new_owner_token().substr(0, 16);
  const std::string marker = detail::redis::void_key(full, attempt);
  detail::redis::RunOptions run{
      .late = resolver.for_save(Cleanup{.key = full, .owner = owner, .void_key = marker},
                                &detail::redis::save_took),
      .return_tryagain = true};
  detail::redis::Commands extra;
  if (options.wait_replicas > 0) {
    extra.add({"WAIT", std::to_string(options.wait_replicas),
               std::to_string(options.wait_timeout.count())});
  }
  const std::string lease = ttl ? std::to_string(ttl->count()) : std::string();
  static const std::string kept_for = std::to_string(detail::redis::kFenceKeptFor.count());
  auto replies = eval(detail::redis::save_script(), {full, detail::redis::fence_key(full), marker},
                      {owner, lease, kept_for}, operation, run, extra);
  if (replies.front().error_code() == "TRYAGAIN") {
    // The slot is being moved and its keys are split between two nodes: the lock key
    // alone, until the move is over.
    run.return_tryagain = false;
    replies = eval(detail::redis::save_while_slot_moves_script(), {full}, {owner, lease},
                   operation, run, extra);
  }
  const Reply& r = replies.front();
  if (r.type != Reply::Type::kArray || r.elements.size() != 2 ||
      r.elements[0].type != Reply::Type::kInteger || r.elements[1].type != Reply::Type::kInteger) {
    unexpected(operation, full, r);
  }
  detail::redis::SaveOutcome outcome;
  outcome.taken = r.elements[0].integer == 1;
  if (!outcome.taken) {
    outcome.wait_ms = r.elements[0].integer == 0 ? r.elements[1].integer : -2;
    return outcome;
  }
  outcome.token = static_cast<std::uint64_t>(r.elements[1].integer);
  if (options.wait_replicas > 0) {
    check_replicated(replies.back(), Cleanup{.key = full, .owner = owner}, operation);
  }
  return outcome;
}

long long RedisStore::Impl::release_once(const std::string& full, const std::string& owner) {
  auto replies = eval(detail::redis::release_script(), {full}, {owner, channel_of(full)},
                      "release", {.late = resolver.for_release(Cleanup{.key = full, .owner = owner})});
  if (replies.front().type != Reply::Type::kInteger) unexpected("release", full, replies.front());
  return replies.front().integer;
}

RedisStore::RedisStore(RedisStoreOptions options) {
  detail::redis::validate_store_options(options);
  impl_ = std::make_unique<Impl>(std::move(options));
}

RedisStore::~RedisStore() = default;

bool RedisStore::save(const std::string& key, const std::string& owner, std::optional<Duration> ttl) {
  return save_fenced(key, owner, ttl).has_value();
}

std::optional<std::uint64_t> RedisStore::save_fenced(const std::string& key,
                                                     const std::string& owner,
                                                     std::optional<Duration> ttl) {
  std::string full = impl_->full_key(key);
  validate_ttl(ttl);
  auto outcome = impl_->save_once(full, owner, ttl, "save");
  if (!outcome.taken) return std::nullopt;
  return outcome.token;
}

void RedisStore::remove(const std::string& key, const std::string& owner) {
  std::string full = impl_->full_key(key);
  long long released = 0;
  try {
    released = impl_->release_once(full, owner);
  } catch (const ReplyLostError&) {
    // It may have released. Asking again settles it: afterwards the lock is not held by this
    // owner either way (the first one, should it still arrive, can only release).
    impl_->release_once(full, owner);
    return;
  }
  if (released != 1) throw LockNotOwnedError(not_owned_message(key));
}

void RedisStore::force_remove(const std::string& key) {
  std::string full = impl_->full_key(key);
  const std::string channel = impl_->channel_of(full);
  try {
    impl_->eval(detail::redis::force_release_script(), {full}, {channel}, "force release");
  } catch (const ReplyLostError&) {
    impl_->eval(detail::redis::force_release_script(), {full}, {channel}, "force release");
  }
}

bool RedisStore::exists(const std::string& key) {
  std::string full = impl_->full_key(key);
  Reply reply;
  try {
    reply = impl_->router.run(full, {"EXISTS", full}, "exists (EXISTS)");
  } catch (const ReplyLostError&) {
    reply = impl_->router.run(full, {"EXISTS", full}, "exists (EXISTS)");  // a read: ask again
  }
  if (reply.type != Reply::Type::kInteger) impl_->unexpected("exists (EXISTS)", full, reply);
  return reply.integer > 0;
}

void RedisStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  std::string full = impl_->full_key(key);
  validate_ttl(duration);
  auto replies = impl_->eval(detail::redis::extend_script(), {full},
                             {owner, std::to_string(duration.count())}, "extend");
  if (replies.front().type != Reply::Type::kInteger) impl_->unexpected("extend", full, replies.front());
  if (replies.front().integer != 1) throw LockNotOwnedError(not_owned_message(key));
}

std::optional<Acquired> RedisStore::save_waiting(
    const std::string& key, const std::string& owner, std::optional<Duration> ttl,
    std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point /*waiting_since*/) {
  std::string full = impl_->full_key(key);
  validate_ttl(ttl);
  const std::string channel = impl_->channel_of(full);
  std::chrono::system_clock::time_point written_at;
  bool waited = false;  // a try found it held
  // Most locks are free: one attempt, no subscription. A key someone waited on lately is
  // still subscribed, and likely taken: skip straight to the subscription.
  if (!impl_->subscriber.subscribed(channel)) {
    written_at = std::chrono::system_clock::now();
    auto outcome = impl_->save_once(full, owner, ttl, "save");
    if (outcome.taken) return Acquired{.written_at = written_at, .fencing_token = outcome.token};
    if (Clock::now() >= until) return std::nullopt;
    waited = true;
  }

  // Subscribed before the next attempt, so a release between that attempt and the wait is
  // not missed. If subscribing takes too long (or the server refuses the channel), the
  // waiter still wakes at its deadline or when the holder's lease ends.
  detail::redis::Subscriber::Watch watch(impl_->subscriber, channel);
  watch.wait_subscribed(std::min(until, Clock::now() + impl_->options.connection.command_timeout));
  for (;;) {
    const std::uint64_t seen = watch.messages();
    written_at = std::chrono::system_clock::now();
    auto outcome = impl_->save_once(full, owner, ttl, "save (waiting)");
    if (outcome.taken) {
      return Acquired{.written_at = written_at, .fencing_token = outcome.token, .waited = waited};
    }
    waited = true;
    const auto now = Clock::now();
    if (now >= until) return std::nullopt;
    if (outcome.wait_ms == -2) continue;  // released between SET and PTTL: at once
    auto wake_at = until;
    if (outcome.wait_ms >= 0) {
      wake_at = std::min(until, now + std::chrono::milliseconds(outcome.wait_ms + 1));
    }
    if (!watch.wait_message(seen, wake_at) && wake_at >= until) return std::nullopt;
  }
}

void RedisStore::ping() {
  for (const auto& reply : impl_->router.run_on_every_master({"PING"}, "PING")) {
    if (reply.is_error()) storage_failure(impl_->router.describe(), "PING", reply.describe());
  }
}

std::string RedisStore::release_channel(std::string_view key) const {
  return impl_->channel_of(impl_->options.key_prefix + std::string(key));
}

StoreFactory redis_store(RedisStoreOptions options) {
  detail::redis::validate_store_options(options);
  return detail::store_factory<RedisStore>("redis", std::move(options));
}

}  // namespace verrou
