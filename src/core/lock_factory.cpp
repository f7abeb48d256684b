// SPDX-License-Identifier: Apache-2.0
#include "verrou/lock_factory.hpp"

#include "detail/acquire_loop.hpp"
#include "verrou/errors.hpp"

namespace verrou {

void validate_retry(const RetryOptions& retry) {
  if (retry.attempts && *retry.attempts == 0) {
    throw InvalidArgumentError(
        "invalid retry attempts 0: attempts counts every try including the first, so it must be "
        "at least 1 (leave it unset for unlimited)");
  }
  if (retry.delay && retry.delay->count() < 0) {
    throw InvalidArgumentError("invalid retry delay " + std::to_string(retry.delay->count()) +
                               "ms: the delay cannot be negative");
  }
  if (retry.timeout && retry.timeout->count() < 0) {
    throw InvalidArgumentError("invalid retry timeout " +
                               std::to_string(retry.timeout->count()) +
                               "ms: the timeout cannot be negative (leave it unset for none)");
  }
}

namespace detail {

RetryOptions merge_retry(const RetryOptions& options, const RetryOptions& defaults) {
  RetryOptions retry{
      .attempts = options.attempts ? options.attempts : defaults.attempts,
      .delay = options.delay ? options.delay : defaults.delay,
      .timeout = options.timeout ? options.timeout : defaults.timeout,
  };
  validate_retry(retry);
  return retry;
}

}  // namespace detail

LockFactory::LockFactory(std::shared_ptr<LockStore> store, LockFactoryOptions options)
    : store_(std::move(store)) {
  if (!store_) throw InvalidArgumentError("LockFactory needs a store; got a null store pointer");
  validate_retry(options.retry);
  if (!options.logger) options.logger = null_logger();
  if (options.store_name.empty()) options.store_name = "default";
  options_ = std::make_shared<const LockFactoryOptions>(std::move(options));
}

Lock LockFactory::create_lock(std::string key, std::optional<Duration> ttl) const {
  validate_key(key);
  validate_ttl(ttl);
  return Lock(std::move(key), store_, options_, ttl);
}

Lock LockFactory::create_lock(std::string key, std::string_view ttl) const {
  return create_lock(std::move(key), parse_ttl(ttl));
}

Semaphore LockFactory::create_semaphore(std::string key, std::uint32_t limit,
                                        std::optional<Duration> ttl) const {
  return Semaphore(std::move(key), limit, store_, options_, ttl);
}

Lock LockFactory::restore_lock(const SerializedLock& lock) const {
  validate_key(lock.key);
  validate_ttl(lock.ttl);
  if (lock.owner.empty()) {
    throw InvalidArgumentError("cannot restore a lock without an owner token");
  }
  return Lock(lock.key, store_, options_, lock.ttl, lock.owner, lock.expiration_time,
              lock.fencing_token);
}

}  // namespace verrou
