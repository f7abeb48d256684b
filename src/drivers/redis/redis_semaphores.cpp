// SPDX-License-Identifier: Apache-2.0
// The Redis store's semaphores: per semaphore, a sorted set of holders scored by the end of
// their lease and a hash of the limit each was admitted under, in one slot, apart from the
// lock of the same name; one script prunes, counts and admits. Waiters are woken by a message
// when a permit is given back.
#include <algorithm>

#include "detail/owner.hpp"
#include "drivers/redis/data_layout.hpp"
#include "drivers/redis/redis_errors.hpp"
#include "drivers/redis/store_impl.hpp"
#include "verrou/errors.hpp"
#include "verrou/semaphore.hpp"

namespace verrou {

namespace {

using detail::redis::Cleanup;
using detail::redis::Clock;
using detail::redis::Reply;
using detail::redis::ReplyLostError;
using detail::redis::storage_failure;

std::string no_permit_message(const std::string& key) {
  return "semaphore \"" + key +
         "\" has no permit of this holder: it was given back, expired, or never taken";
}

// The names of one semaphore's data.
struct SemaphoreKeys {
  explicit SemaphoreKeys(const std::string& full)
      : holders(detail::redis::semaphore_holders_key(full)),
        limits(detail::redis::semaphore_limits_key(full)) {}
  std::string holders;
  std::string limits;
};

}  // namespace

detail::redis::SaveOutcome RedisStore::Impl::save_permit_once(const std::string& full,
                                                             const std::string& holder,
                                                             std::uint32_t limit,
                                                             std::optional<Duration> ttl,
                                                             std::string_view operation) {
  const SemaphoreKeys keys(full);
  const auto& c = options.connection;
  if (!resolver.wait_settled(keys.holders, holder,
                             Clock::now() + c.connect_timeout + c.command_timeout)) {
    storage_failure(router.describe(), operation,
                    "an earlier attempt of this holder on semaphore \"" + full +
                        "\" lost its reply and is still being settled; try again later");
  }
  const std::string attempt = detail::new_owner_token().substr(0, 16);
  const std::string marker = detail::redis::void_key(keys.holders, attempt);
  const Cleanup cleanup{.key = keys.holders, .owner = holder, .void_key = marker,
                        .permit = true, .limits_key = keys.limits,
                        .channel = detail::redis::permit_channel(full, c.database)};
  detail::redis::Commands extra;
  if (options.wait_replicas > 0) {
    extra.add({"WAIT", std::to_string(options.wait_replicas),
               std::to_string(options.wait_timeout.count())});
  }
  auto replies = eval(detail::redis::save_permit_script(), {keys.holders, keys.limits, marker},
                      {holder, std::to_string(limit), ttl ? std::to_string(ttl->count()) : ""},
                      operation, {.late = resolver.for_save(cleanup, &detail::redis::save_took)},
                      extra);
  const Reply& r = replies.front();
  if (r.type != Reply::Type::kArray || r.elements.size() != 2 ||
      r.elements[0].type != Reply::Type::kInteger || r.elements[1].type != Reply::Type::kInteger) {
    unexpected(operation, keys.holders, r);
  }
  detail::redis::SaveOutcome outcome;
  outcome.taken = r.elements[0].integer == 1;
  if (!outcome.taken) {
    // Full: wait for the first lease to end (or a permit given back); this holder already
    // has one, or the attempt was voided: no point waiting for a lease.
    outcome.wait_ms = r.elements[0].integer == 0 && r.elements[1].integer >= 0
                          ? r.elements[1].integer
                          : -1;
    return outcome;
  }
  if (options.wait_replicas > 0) {
    Cleanup give_back = cleanup;
    give_back.void_key.clear();
    check_replicated(replies.back(), std::move(give_back), operation);
  }
  return outcome;
}

void RedisStore::Impl::clean_up_permit(const Cleanup& c) {
  const detail::redis::RunOptions run{.reply_timeout = patience(options.connection)};
  const std::string& channel = c.channel;
  if (c.void_key.empty()) {
    eval(detail::redis::remove_permit_script(), {c.key, c.limits_key}, {c.owner, channel},
         "give back a permit (settling a lost reply)", run);
  } else {
    eval(detail::redis::void_permit_script(), {c.key, c.limits_key, c.void_key},
         {c.owner, channel, std::to_string(detail::redis::kVoidKeptFor.count())},
         "voiding a permit save whose reply was lost", run);
  }
}

bool RedisStore::save_permit(const std::string& key, const std::string& holder,
                             std::uint32_t limit, std::optional<Duration> ttl) {
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
  return impl_->save_permit_once(impl_->full_key(key), holder, limit, ttl, "semaphore save").taken;
}

void RedisStore::remove_permit(const std::string& key, const std::string& holder) {
  const std::string full = impl_->full_key(key);
  const SemaphoreKeys keys(full);
  const std::string channel = detail::redis::permit_channel(full, impl_->options.connection.database);
  auto give_back = [&] {
    auto replies = impl_->eval(
        detail::redis::remove_permit_script(), {keys.holders, keys.limits}, {holder, channel},
        "semaphore release",
        {.late = impl_->resolver.for_release(Cleanup{.key = keys.holders, .owner = holder,
                                                     .permit = true, .limits_key = keys.limits,
                                                     .channel = channel})});
    if (replies.front().type != Reply::Type::kInteger) {
      impl_->unexpected("semaphore release", keys.holders, replies.front());
    }
    return replies.front().integer;
  };
  long long given = 0;
  try {
    given = give_back();
  } catch (const ReplyLostError&) {
    give_back();  // as for locks: afterwards this holder has no permit either way
    return;
  }
  if (given != 1) throw LockNotOwnedError(no_permit_message(key));
}

void RedisStore::extend_permit(const std::string& key, const std::string& holder,
                               Duration duration) {
  validate_ttl(duration);
  const SemaphoreKeys keys(impl_->full_key(key));
  auto replies = impl_->eval(detail::redis::extend_permit_script(), {keys.holders, keys.limits},
                             {holder, std::to_string(duration.count())}, "semaphore extend");
  if (replies.front().type != Reply::Type::kInteger) {
    impl_->unexpected("semaphore extend", keys.holders, replies.front());
  }
  if (replies.front().integer != 1) throw LockNotOwnedError(no_permit_message(key));
}

std::uint32_t RedisStore::count_permits(const std::string& key) {
  const SemaphoreKeys keys(impl_->full_key(key));
  auto count = [&] {
    return impl_->eval(detail::redis::count_permits_script(), {keys.holders}, {},
                       "semaphore count");
  };
  std::vector<Reply> replies;
  try {
    replies = count();
  } catch (const ReplyLostError&) {
    replies = count();  // a read: ask again
  }
  if (replies.front().type != Reply::Type::kInteger || replies.front().integer < 0) {
    impl_->unexpected("semaphore count", keys.holders, replies.front());
  }
  return static_cast<std::uint32_t>(std::min<long long>(replies.front().integer, UINT32_MAX));
}

std::optional<Acquired> RedisStore::save_permit_waiting(
    const std::string& key, const std::string& holder, std::uint32_t limit,
    std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point /*waiting_since*/) {
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
  const std::string full = impl_->full_key(key);
  const std::string channel = detail::redis::permit_channel(full, impl_->options.connection.database);
  bool waited = false;  // a try found no permit free
  if (!impl_->subscriber.subscribed(channel)) {
    const auto written_at = std::chrono::system_clock::now();
    if (impl_->save_permit_once(full, holder, limit, ttl, "semaphore save").taken) {
      return Acquired{.written_at = written_at};
    }
    if (Clock::now() >= until) return std::nullopt;
    waited = true;
  }
  // Subscribed before trying again, so a permit given back in between is not missed.
  detail::redis::Subscriber::Watch watch(impl_->subscriber, channel);
  watch.wait_subscribed(std::min(until, Clock::now() + impl_->options.connection.command_timeout));
  for (;;) {
    const std::uint64_t seen = watch.messages();
    const auto written_at = std::chrono::system_clock::now();
    auto outcome = impl_->save_permit_once(full, holder, limit, ttl, "semaphore save (waiting)");
    if (outcome.taken) return Acquired{.written_at = written_at, .waited = waited};
    waited = true;
    const auto now = Clock::now();
    if (now >= until) return std::nullopt;
    auto wake_at = until;
    if (outcome.wait_ms >= 0) {
      wake_at = std::min(until, now + std::chrono::milliseconds(outcome.wait_ms + 1));
    }
    if (!watch.wait_message(seen, wake_at) && wake_at >= until) return std::nullopt;
  }
}

}  // namespace verrou
