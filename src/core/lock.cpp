// SPDX-License-Identifier: Apache-2.0
#include "verrou/lock.hpp"

#include <algorithm>
#include <random>
#include <thread>

#include "detail/local_queue.hpp"
#include "detail/owner.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t to_epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// A pause of 75–100 % of `delay`, so pollers that started together drift apart instead of
// hitting the store in step.
Duration jittered(Duration delay) {
  if (delay.count() < 4) return delay;
  thread_local std::minstd_rand engine(std::random_device{}());
  std::uniform_int_distribution<std::int64_t> spread(delay.count() * 3 / 4, delay.count());
  return Duration(spread(engine));
}

// `t + d`, or the end of time when that would not fit (a timeout of years means "none").
SteadyClock::time_point saturating_add(SteadyClock::time_point t, Duration d) {
  if (d >= kMaxTtl) return SteadyClock::time_point::max();
  return t + d;
}

}  // namespace

Lock::Lock(std::string key, std::shared_ptr<LockStore> store,
           std::shared_ptr<const LockFactoryOptions> options, std::optional<Duration> ttl,
           std::string owner, std::optional<std::int64_t> expiration_time,
           std::optional<std::uint64_t> fencing_token)
    : key_(std::move(key)),
      owner_(owner.empty() ? detail::new_owner_token() : std::move(owner)),
      ttl_(ttl),
      expiration_ms_(expiration_time.value_or(kNoExpiration)),
      token_(fencing_token.value_or(0)),
      has_token_(fencing_token.has_value()),
      store_(std::move(store)),
      options_(std::move(options)) {
  if (!store_) throw InvalidArgumentError("a Lock needs a store; got a null store pointer");
  if (!options_) options_ = std::make_shared<const LockFactoryOptions>(LockFactoryOptions{});
  waitable_ = dynamic_cast<WaitableLockStore*>(store_.get());
  fencing_ = dynamic_cast<FencingLockStore*>(store_.get());
  if (fencing_ != nullptr && !fencing_->gives_fencing_tokens()) fencing_ = nullptr;
}

Lock::Lock(const Lock& other)
    : key_(other.key_),
      owner_(other.owner_),
      ttl_(other.ttl_),
      expiration_ms_(other.expiration_ms_.load()),
      token_(other.token_.load()),
      has_token_(other.has_token_.load()),
      store_(other.store_),
      waitable_(other.waitable_),
      fencing_(other.fencing_),
      options_(other.options_) {}

Lock& Lock::operator=(const Lock& other) {
  if (this != &other) {
    key_ = other.key_;
    owner_ = other.owner_;
    ttl_ = other.ttl_;
    expiration_ms_.store(other.expiration_ms_.load());
    token_.store(other.token_.load());
    has_token_.store(other.has_token_.load());
    store_ = other.store_;
    waitable_ = other.waitable_;
    fencing_ = other.fencing_;
    options_ = other.options_;
  }
  return *this;
}

Lock::Lock(Lock&& other) noexcept
    : key_(std::move(other.key_)),
      owner_(std::move(other.owner_)),
      ttl_(other.ttl_),
      expiration_ms_(other.expiration_ms_.load()),
      token_(other.token_.load()),
      has_token_(other.has_token_.load()),
      store_(std::move(other.store_)),
      waitable_(other.waitable_),
      fencing_(other.fencing_),
      options_(std::move(other.options_)) {}

Lock& Lock::operator=(Lock&& other) noexcept {
  if (this != &other) {
    key_ = std::move(other.key_);
    owner_ = std::move(other.owner_);
    ttl_ = other.ttl_;
    expiration_ms_.store(other.expiration_ms_.load());
    token_.store(other.token_.load());
    has_token_.store(other.has_token_.load());
    store_ = std::move(other.store_);
    waitable_ = other.waitable_;
    fencing_ = other.fencing_;
    options_ = std::move(other.options_);
  }
  return *this;
}

void Lock::set_token(std::optional<std::uint64_t> token) {
  token_.store(token.value_or(0));
  has_token_.store(token.has_value());
}

std::optional<std::uint64_t> Lock::fencing_token() const {
  if (!has_token_.load()) return std::nullopt;
  return token_.load();
}

void Lock::mark_acquired(std::int64_t written_at_ms, std::optional<std::uint64_t> token) {
  expiration_ms_.store(ttl_ ? written_at_ms + ttl_->count() : kNoExpiration);
  set_token(token);
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock acquired", {{"key", key_}});
  }
}

bool Lock::try_once() {
  const std::int64_t before = epoch_ms_now();
  if (fencing_ != nullptr) {
    const auto token = fencing_->save_fenced(key_, owner_, ttl_);
    if (!token) return false;
    mark_acquired(before, token);
    return true;
  }
  if (!store_->save(key_, owner_, ttl_)) return false;
  mark_acquired(before, std::nullopt);
  return true;
}

bool Lock::acquire(const AcquireOptions& options) {
  const RetryOptions& defaults = options_->retry;
  RetryOptions retry{
      .attempts = options.retry.attempts ? options.retry.attempts : defaults.attempts,
      .delay = options.retry.delay ? options.retry.delay : defaults.delay,
      .timeout = options.retry.timeout ? options.retry.timeout : defaults.timeout,
  };
  validate_retry(retry);
  const Duration delay = retry.delay.value_or(kDefaultRetryDelay);
  const auto start = SteadyClock::now();
  // No timeout: a deadline that never comes (steady_clock's range is centuries).
  const auto deadline =
      retry.timeout ? saturating_add(start, *retry.timeout) : SteadyClock::time_point::max();

  if (waitable_ != nullptr && waitable_->serves_waiters_in_order()) {
    // The store queues its waiters itself and hands a released lock to the first.
    for (std::uint64_t attempt = 1;; ++attempt) {
      const bool last = retry.attempts && attempt >= *retry.attempts;
      if (last) return try_once();
      const auto until = std::min(saturating_add(SteadyClock::now(), delay), deadline);
      if (auto acquired = waitable_->save_waiting(key_, owner_, ttl_, until, start)) {
        mark_acquired(to_epoch_ms(acquired->written_at), acquired->fencing_token);
        return true;
      }
      if (SteadyClock::now() >= deadline) return false;
    }
  }

  // Line up with this process's other callers for the key: only the first asks the store,
  // and a release through this store wakes it without waiting out the delay.
  detail::QueueTicket ticket(store_.get(), key_, start);
  for (std::uint64_t attempt = 1;; ++attempt) {
    const bool last = retry.attempts && attempt >= *retry.attempts;
    if (!ticket.wait_front(deadline)) return false;
    const std::uint64_t releases_seen = ticket.releases();
    if (waitable_ != nullptr && !last) {
      // One attempt that waits for a release, for at most the retry delay.
      const auto until = std::min(saturating_add(SteadyClock::now(), delay), deadline);
      if (auto acquired = waitable_->save_waiting(key_, owner_, ttl_, until, start)) {
        mark_acquired(to_epoch_ms(acquired->written_at), acquired->fencing_token);
        return true;
      }
    } else if (try_once()) {
      return true;
    }
    if (last) return false;
    if (SteadyClock::now() >= deadline) return false;
    if (waitable_ == nullptr) {
      ticket.wait_release(releases_seen,
                          std::min(saturating_add(SteadyClock::now(), jittered(delay)), deadline));
    }
  }
}

bool Lock::acquire_immediately() {
  // Callers of this process already waiting for the key go first.
  const bool queued_by_store = waitable_ != nullptr && waitable_->serves_waiters_in_order();
  if (!queued_by_store && detail::local_waiters(store_.get(), key_)) return false;
  return try_once();
}

void Lock::release() {
  store_->remove(key_, owner_);
  detail::local_release(store_.get(), key_);
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock released", {{"key", key_}});
  }
}

void Lock::release_after_failure() noexcept {
  try {
    release();
  } catch (const std::exception& e) {
    // The callback's exception is the one the caller needs; report this one on the side.
    const auto& logger = options_->logger;
    if (logger && logger->enabled(LogLevel::warn)) {
      logger->log(LogLevel::warn, "Lock release after a failed callback failed",
                  {{"key", key_}, {"error", e.what()}});
    }
  } catch (...) {
  }
}

void Lock::force_release() {
  store_->force_remove(key_);
  detail::local_release(store_.get(), key_);
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock force released", {{"key", key_}});
  }
}

void Lock::extend() {
  if (!ttl_) {
    throw InvalidArgumentError("cannot extend the lock on \"" + key_ +
                               "\": it has no TTL (it never expires)");
  }
  extend(*ttl_);
}

void Lock::extend(Duration duration) {
  if (!ttl_) {
    throw InvalidArgumentError("cannot extend the lock on \"" + key_ +
                               "\": it has no TTL (it never expires)");
  }
  validate_ttl(duration);
  const std::int64_t before = epoch_ms_now();
  store_->extend(key_, owner_, duration);
  expiration_ms_.store(before + duration.count());
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock extended",
                {{"key", key_}, {"duration", format_duration(duration)}});
  }
}

bool Lock::is_locked() { return store_->exists(key_); }

bool Lock::is_expired() const {
  const auto expiration = expiration_ms_.load();
  return expiration != kNoExpiration && expiration < epoch_ms_now();
}

std::optional<Duration> Lock::remaining_time() const {
  const auto expiration = expiration_ms_.load();
  if (expiration == kNoExpiration) return std::nullopt;
  return Duration(std::max<std::int64_t>(0, expiration - epoch_ms_now()));
}

SerializedLock Lock::serialize() const {
  const auto expiration = expiration_ms_.load();
  return SerializedLock{
      .key = key_,
      .owner = owner_,
      .ttl = ttl_,
      .expiration_time =
          expiration == kNoExpiration ? std::nullopt : std::optional<std::int64_t>(expiration),
      .fencing_token = fencing_token(),
  };
}

void Lock::lock() {
  if (!acquire()) {
    throw LockTimeoutError("could not acquire the lock on \"" + key_ +
                           "\" within the retry options (attempts/timeout)");
  }
}

}  // namespace verrou
