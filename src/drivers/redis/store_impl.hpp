// SPDX-License-Identifier: Apache-2.0
// The inside of RedisStore, shared by its locks (redis_store.cpp) and its semaphores
// (redis_semaphores.cpp): the parts it is made of and the steps both use.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/redis/drainer.hpp"
#include "drivers/redis/outcome_resolver.hpp"
#include "drivers/redis/router.hpp"
#include "drivers/redis/scripts.hpp"
#include "drivers/redis/subscriber.hpp"
#include "verrou/drivers/redis.hpp"

namespace verrou {

namespace detail::redis {

/// What a save script (of a lock or a permit) answered.
struct SaveOutcome {
  bool taken = false;
  std::uint64_t token = 0;  ///< locks: the fencing token
  /// Not taken: how long until a holder's lease ends, in ms (-1: no lease ends; -2: the
  /// holder went meanwhile, try again at once).
  long long wait_ms = -1;
};

/// Whether a save's replies say it took what it asked for ({1, …}).
bool save_took(const std::vector<Reply>& replies);

}  // namespace detail::redis

struct RedisStore::Impl {
  explicit Impl(RedisStoreOptions o);
  ~Impl();  // settles what is pending first (bounded)
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  RedisStoreOptions options;
  std::shared_ptr<const detail::redis::Settings> settings;
  detail::redis::Drainer drainer;
  detail::redis::Router router;
  detail::redis::OutcomeResolver resolver;
  detail::redis::Subscriber subscriber;

  /// How long a stalled connection's late replies are waited for, and a clean-up's reply.
  [[nodiscard]] static Duration patience(const RedisConnection& c);

  /// `key` checked, with the prefix.
  [[nodiscard]] std::string full_key(const std::string& key) const;
  /// The release channel of the lock at `full`.
  [[nodiscard]] std::string channel_of(const std::string& full) const;

  /// EVALSHA, then EVAL when the server does not know the script; `extra` commands go right
  /// after it on the same connection. Returns one reply per command; an error reply to the
  /// script becomes LockStorageError (TRYAGAIN is returned when `run.return_tryagain`).
  std::vector<detail::redis::Reply> eval(const detail::redis::Script& script,
                                         std::initializer_list<std::string_view> keys,
                                         std::initializer_list<std::string_view> args,
                                         std::string_view operation,
                                         const detail::redis::RunOptions& run = {},
                                         const detail::redis::Commands& extra = {});

  /// Throws LockStorageError for an unexpected reply, saying what it may mean.
  [[noreturn]] void unexpected(std::string_view operation, const std::string& key,
                               const detail::redis::Reply& reply) const;

  /// After a save that took something, WAIT's answer: too few replicas, and `cleanup` gives
  /// it back (in the background) and this throws LockStorageError.
  void check_replicated(const detail::redis::Reply& wait, detail::redis::Cleanup cleanup,
                        std::string_view operation);

  /// Carries out a clean-up for the resolver.
  void clean_up(const detail::redis::Cleanup& c);

  // Locks (redis_store.cpp).
  detail::redis::SaveOutcome save_once(const std::string& full, const std::string& owner,
                                       std::optional<Duration> ttl, std::string_view operation);
  long long release_once(const std::string& full, const std::string& owner);

  // Permits (redis_semaphores.cpp).
  detail::redis::SaveOutcome save_permit_once(const std::string& key, const std::string& holder,
                                              std::uint32_t limit, std::optional<Duration> ttl,
                                              std::string_view operation);
  void clean_up_permit(const detail::redis::Cleanup& c);
};

}  // namespace verrou
