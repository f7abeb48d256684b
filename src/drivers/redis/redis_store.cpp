// SPDX-License-Identifier: Apache-2.0
// src/drivers/redis: the Redis store (standalone, Cluster, TLS) over the store's own client.
//
// This file holds the store's operations. Beside it: url_options.cpp (URLs, option checks),
// router (which server runs a command; cluster_map for the slot map, hash_slot for CRC16),
// multiplexer and pipeline (threads sharing pipelined connections), connection (socket, TLS
// in tls, AUTH), reply (RESP through hiredis), drainer (late replies on stalled connections),
// outcome_resolver (settling commands whose reply was lost), subscriber (release
// announcements), scripts (the Lua) and data_layout (what is stored where).
#include <algorithm>
#include <utility>

#include "detail/owner.hpp"
#include "drivers/redis/data_layout.hpp"
#include "drivers/redis/drainer.hpp"
#include "drivers/redis/outcome_resolver.hpp"
#include "drivers/redis/redis_errors.hpp"
#include "drivers/redis/router.hpp"
#include "drivers/redis/scripts.hpp"
#include "drivers/redis/store_options.hpp"
#include "drivers/redis/subscriber.hpp"
#include "verrou/drivers/redis.hpp"
#include "verrou/errors.hpp"

namespace verrou {

namespace {

using detail::redis::Cleanup;
using detail::redis::Clock;
using detail::redis::Deadline;
using detail::redis::Reply;
using detail::redis::ReplyLostError;
using detail::redis::Script;
using detail::redis::storage_failure;

// What a save script answered.
struct SaveOutcome {
  bool taken = false;
  std::uint64_t token = 0;
  long long holder_pttl = -1;  // not taken: the holder's remaining lease (-1 none, -2 gone)
};

// Whether a save's replies say it took the lock ({1, token}).
bool save_took(const std::vector<Reply>& replies) {
  const Reply& r = replies.front();
  return r.type == Reply::Type::kArray && r.elements.size() == 2 &&
         r.elements[0].type == Reply::Type::kInteger && r.elements[0].integer == 1;
}

std::string not_owned_message(const std::string& key) {
  return "lock \"" + key +
         "\" is not held by this owner: it was released, expired, or taken by another owner";
}

}  // namespace

struct RedisStore::Impl {
  explicit Impl(RedisStoreOptions o)
      : options(std::move(o)),
        settings(detail::redis::make_settings(options.connection)),
        drainer(patience(options.connection)),
        router(settings, drainer),
        resolver([this](const Cleanup& c) { clean_up(c); }),
        subscriber(router) {}

  ~Impl() {
    // Settle what is pending before the connections go: late replies get one more command
    // timeout, then clean-ups (of saves whose reply was lost) connect + 2 command timeouts.
    // Nothing is pending in the usual case, and this returns at once.
    const auto& c = options.connection;
    subscriber.stop();
    const Deadline drained_by = Clock::now() + c.command_timeout;
    drainer.finish(drained_by);
    resolver.finish(drained_by + c.connect_timeout + 2 * c.command_timeout);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  RedisStoreOptions options;
  std::shared_ptr<const detail::redis::Settings> settings;
  detail::redis::Drainer drainer;
  detail::redis::Router router;
  detail::redis::OutcomeResolver resolver;
  detail::redis::Subscriber subscriber;

  [[nodiscard]] std::string full_key(const std::string& key) const {
    validate_key(key);
    return options.key_prefix + key;
  }
  [[nodiscard]] std::string channel_of(const std::string& full) const {
    return detail::redis::release_channel(full, options.connection.database);
  }

  // EVALSHA, then EVAL when the server does not know the script; `extra` commands go right
  // after it on the same connection. Returns one reply per command.
  std::vector<Reply> eval(const Script& script, std::initializer_list<std::string_view> keys,
                          std::initializer_list<std::string_view> args, std::string_view operation,
                          const detail::redis::RunOptions& run = {},
                          const detail::redis::Commands& extra = {}) {
    auto commands = [&](std::string_view verb, std::string_view body_or_sha) {
      std::vector<std::string_view> command{verb, body_or_sha};
      const std::string count = std::to_string(keys.size());
      command.emplace_back(count);
      command.insert(command.end(), keys.begin(), keys.end());
      command.insert(command.end(), args.begin(), args.end());
      detail::redis::Commands all;
      detail::redis::append_command(all.payload, command);
      all.count = 1 + extra.count;
      all.payload += extra.payload;
      return all;
    };
    const std::string_view key = *keys.begin();
    auto replies = router.run(key, commands("EVALSHA", script.sha1), operation, run);
    if (replies.front().error_starts_with("NOSCRIPT")) {
      replies = router.run(key, commands("EVAL", script.body), operation, run);
    }
    if (replies.front().is_error() &&
        !(run.return_tryagain && replies.front().error_code() == "TRYAGAIN")) {
      unexpected(operation, std::string(key), replies.front());
    }
    return replies;
  }

  [[noreturn]] void unexpected(std::string_view operation, const std::string& key,
                               const Reply& reply) const {
    std::string detail = "unexpected reply " + reply.describe() + " for key \"" + key + "\"";
    if (reply.str.find("WRONGTYPE") != std::string::npos) {
      detail += " (the key holds a value that is not a lock; is another program using it?)";
    }
    if (reply.error_code() == "NOPERM") {
      detail += " (the ACL user lacks a right the store needs; see docs/redis.md, \"ACL\")";
    }
    storage_failure(router.describe(), operation, detail);
  }

  // One save: the lock with a fencing token, or the holder's remaining lease.
  SaveOutcome save_once(const std::string& full, const std::string& owner,
                        std::optional<Duration> ttl, std::string_view operation) {
    const auto& c = options.connection;
    if (!resolver.wait_settled(full, owner, Clock::now() + c.connect_timeout + c.command_timeout)) {
      storage_failure(router.describe(), operation,
                      "an earlier attempt of this owner on key \"" + full +
                          "\" lost its reply and is still being settled; try again later");
    }
    const std::string attempt = detail::new_owner_token().substr(0, 16);
    const std::string marker = detail::redis::void_key(full, attempt);
    detail::redis::RunOptions run{.late = resolver.for_save(full, owner, marker, &save_took),
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
    SaveOutcome outcome;
    outcome.taken = r.elements[0].integer == 1;
    if (!outcome.taken) {
      outcome.holder_pttl = r.elements[0].integer == 0 ? r.elements[1].integer : -2;
      return outcome;
    }
    outcome.token = static_cast<std::uint64_t>(r.elements[1].integer);
    if (options.wait_replicas > 0) check_replicated(full, owner, replies.back(), operation);
    return outcome;
  }

  // WAIT's answer after a save that took the lock: too few replicas, and the lock is given
  // back (a failover now could lose it) and the save reported failed.
  void check_replicated(const std::string& full, const std::string& owner, const Reply& wait,
                        std::string_view operation) {
    if (wait.type == Reply::Type::kInteger && wait.integer >= options.wait_replicas) return;
    resolver.clean_up(Cleanup{full, owner, {}});
    storage_failure(router.describe(), operation,
                    "the lock \"" + full + "\" was taken but " +
                        (wait.type == Reply::Type::kInteger
                             ? "only " + std::to_string(wait.integer) + " of "
                             : "none of ") +
                        std::to_string(options.wait_replicas) +
                        " replicas acknowledged it within wait_timeout=" +
                        std::to_string(options.wait_timeout.count()) +
                        " ms (WAIT answered " + wait.describe() + "); it is released again");
  }

  // How long a stalled connection's late replies are waited for, and a clean-up's reply.
  [[nodiscard]] static Duration patience(const RedisConnection& c) {
    return std::max(Duration(10'000), 2 * c.command_timeout);
  }

  // Carries out a clean-up for the resolver.
  void clean_up(const Cleanup& c) {
    const std::string channel = channel_of(c.key);
    const detail::redis::RunOptions run{.reply_timeout = patience(options.connection)};
    if (c.void_key.empty()) {
      eval(detail::redis::release_script(), {c.key}, {c.owner, channel},
           "release (settling a lost reply)", run);
    } else {
      eval(detail::redis::void_save_script(), {c.key, c.void_key},
           {c.owner, channel, std::to_string(detail::redis::kVoidKeptFor.count())},
           "voiding a save whose reply was lost", run);
    }
  }

  // A release script's answer: 1 released, 0 not held by the owner.
  long long release_once(const std::string& full, const std::string& owner) {
    auto replies = eval(detail::redis::release_script(), {full}, {owner, channel_of(full)},
                        "release", {.late = resolver.for_release(full, owner)});
    if (replies.front().type != Reply::Type::kInteger) unexpected("release", full, replies.front());
    return replies.front().integer;
  }
};

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
  // Most locks are free: one attempt, no subscription. A key someone waited on lately is
  // still subscribed, and likely taken: skip straight to the subscription.
  if (!impl_->subscriber.subscribed(channel)) {
    written_at = std::chrono::system_clock::now();
    auto outcome = impl_->save_once(full, owner, ttl, "save");
    if (outcome.taken) return Acquired{.written_at = written_at, .fencing_token = outcome.token};
    if (Clock::now() >= until) return std::nullopt;
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
    if (outcome.taken) return Acquired{.written_at = written_at, .fencing_token = outcome.token};
    const auto now = Clock::now();
    if (now >= until) return std::nullopt;
    if (outcome.holder_pttl == -2) continue;  // released between SET and PTTL: at once
    auto wake_at = until;
    if (outcome.holder_pttl >= 0) {
      wake_at = std::min(until, now + std::chrono::milliseconds(outcome.holder_pttl + 1));
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
  return StoreFactory{
      .driver = "redis",
      .create = [options = std::move(options)] { return std::make_shared<RedisStore>(options); },
  };
}

}  // namespace verrou
