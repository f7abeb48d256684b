// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/store_impl.hpp"

#include <algorithm>

#include "drivers/redis/data_layout.hpp"
#include "drivers/redis/redis_errors.hpp"
#include "drivers/redis/store_options.hpp"

namespace verrou {

namespace detail::redis {
bool save_took(const std::vector<Reply>& replies) {
  const Reply& r = replies.front();
  return r.type == Reply::Type::kArray && r.elements.size() == 2 &&
         r.elements[0].type == Reply::Type::kInteger && r.elements[0].integer == 1;
}
}  // namespace detail::redis

using detail::redis::Cleanup;
using detail::redis::Clock;
using detail::redis::Deadline;
using detail::redis::Reply;

RedisStore::Impl::Impl(RedisStoreOptions o)
    : options(std::move(o)),
      settings(detail::redis::make_settings(options.connection)),
      drainer(patience(options.connection)),
      router(settings, drainer),
      resolver([this](const Cleanup& c) { clean_up(c); }),
      subscriber(router) {}

RedisStore::Impl::~Impl() {
  // Settle what is pending before the connections go: late replies get one more command
  // timeout, then clean-ups (of saves whose reply was lost) connect + 2 command timeouts.
  // Nothing is pending in the usual case, and this returns at once.
  const auto& c = options.connection;
  subscriber.stop();
  const Deadline drained_by = Clock::now() + c.command_timeout;
  drainer.finish(drained_by);
  resolver.finish(drained_by + c.connect_timeout + 2 * c.command_timeout);
}

Duration RedisStore::Impl::patience(const RedisConnection& c) {
  return std::max(Duration(10'000), 2 * c.command_timeout);
}

std::string RedisStore::Impl::full_key(const std::string& key) const {
  validate_key(key);
  return options.key_prefix + key;
}

std::string RedisStore::Impl::channel_of(const std::string& full) const {
  return detail::redis::release_channel(full, options.connection.database);
}

std::vector<Reply> RedisStore::Impl::eval(const detail::redis::Script& script,
                                          std::initializer_list<std::string_view> keys,
                                          std::initializer_list<std::string_view> args,
                                          std::string_view operation,
                                          const detail::redis::RunOptions& run,
                                          const detail::redis::Commands& extra) {
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

void RedisStore::Impl::unexpected(std::string_view operation, const std::string& key,
                                  const Reply& reply) const {
  std::string detail = "unexpected reply " + reply.describe() + " for key \"" + key + "\"";
  if (reply.str.find("WRONGTYPE") != std::string::npos) {
    detail += " (the key holds a value that is not a lock; is another program using it?)";
  }
  if (reply.error_code() == "NOPERM") {
    detail += " (the ACL user lacks a right the store needs; see docs/redis.md, \"ACL rights\")";
  }
  detail::redis::storage_failure(router.describe(), operation, detail);
}

void RedisStore::Impl::check_replicated(const Reply& wait, Cleanup cleanup,
                                        std::string_view operation) {
  if (wait.type == Reply::Type::kInteger && wait.integer >= options.wait_replicas) return;
  const std::string what = cleanup.key;
  resolver.clean_up(std::move(cleanup));
  detail::redis::storage_failure(
      router.describe(), operation,
      "\"" + what + "\" was taken but " +
          (wait.type == Reply::Type::kInteger ? "only " + std::to_string(wait.integer) + " of "
                                              : "none of ") +
          std::to_string(options.wait_replicas) +
          " replicas acknowledged it within wait_timeout=" +
          std::to_string(options.wait_timeout.count()) + " ms (WAIT answered " +
          wait.describe() + "); it is released again");
}

void RedisStore::Impl::clean_up(const Cleanup& c) {
  if (c.permit) {
    clean_up_permit(c);
    return;
  }
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

}  // namespace verrou
