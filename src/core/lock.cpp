// SPDX-License-Identifier: Apache-2.0
#include "verrou/lock.hpp"

#include <algorithm>
#include <thread>

#include "detail/acquire_loop.hpp"
#include "detail/local_queue.hpp"
#include "detail/observe.hpp"
#include "detail/owner.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou {
namespace {

std::int64_t to_epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// What a keep-alive extends: this lock's key and owner in its store, moving the expiration
// the lock object knows (shared with it) along.
class LockLease final : public Lease {
 public:
  explicit LockLease(Lock lock) : lock_(std::move(lock)) {}
  void extend_lease() override { lock_.extend(); }
  [[nodiscard]] Duration lease_ttl() const override { return lock_.ttl().value_or(Duration(0)); }
  [[nodiscard]] const void* store_identity() const noexcept override { return store_; }
  [[nodiscard]] std::string_view kind() const noexcept override { return "lock"; }
  [[nodiscard]] std::string_view key() const noexcept override { return lock_.key(); }
  [[nodiscard]] std::shared_ptr<Logger> logger() const override { return logger_; }
  void lost(std::string_view reason) noexcept override {
    if (!observer_) return;
    observer_->on_lost(LostEvent{
        .store = store_name_, .kind = HoldKind::lock, .key = lock_.key(), .reason = reason});
  }

  const void* store_ = nullptr;
  std::shared_ptr<Logger> logger_;
  std::shared_ptr<Observer> observer_;
  std::string store_name_;

 private:
  Lock lock_;
};

}  // namespace

Lock::Lock(std::string key, std::shared_ptr<LockStore> store,
           std::shared_ptr<const LockFactoryOptions> options, std::optional<Duration> ttl,
           std::string owner, std::optional<std::int64_t> expiration_time,
           std::optional<std::uint64_t> fencing_token)
    : key_(std::move(key)),
      owner_(owner.empty() ? detail::new_owner_token() : std::move(owner)),
      ttl_(ttl),
      state_(std::make_shared<State>()),
      token_(fencing_token.value_or(0)),
      has_token_(fencing_token.has_value()),
      store_(std::move(store)),
      options_(std::move(options)) {
  if (!store_) throw InvalidArgumentError("a Lock needs a store; got a null store pointer");
  state_->expiration_ms.store(expiration_time.value_or(kNoExpiration));
  // A restored lock was serialized by its holder: held as long as that lease lasts.
  state_->held.store(expiration_time.has_value());
  if (!options_) options_ = std::make_shared<const LockFactoryOptions>(LockFactoryOptions{});
  waitable_ = dynamic_cast<WaitableLockStore*>(store_.get());
  fencing_ = dynamic_cast<FencingLockStore*>(store_.get());
  if (fencing_ != nullptr && !fencing_->gives_fencing_tokens()) fencing_ = nullptr;
}

Lock::Lock(const Lock& other)
    : key_(other.key_),
      owner_(other.owner_),
      ttl_(other.ttl_),
      state_(std::make_shared<State>()),
      token_(other.token_.load()),
      has_token_(other.has_token_.load()),
      store_(other.store_),
      waitable_(other.waitable_),
      fencing_(other.fencing_),
      options_(other.options_) {
  state_->expiration_ms.store(other.state_->expiration_ms.load());
  state_->held.store(other.state_->held.load());
}

Lock& Lock::operator=(const Lock& other) {
  if (this != &other) {
    key_ = other.key_;
    owner_ = other.owner_;
    ttl_ = other.ttl_;
    auto state = std::make_shared<State>();
    state->expiration_ms.store(other.state_->expiration_ms.load());
    state->held.store(other.state_->held.load());
    state_ = std::move(state);
    token_.store(other.token_.load());
    has_token_.store(other.has_token_.load());
    store_ = other.store_;
    waitable_ = other.waitable_;
    fencing_ = other.fencing_;
    options_ = other.options_;
  }
  return *this;
}

// A moved-from lock keeps sharing the state (it has no store left to act on, but its
// accessors still answer).
Lock::Lock(Lock&& other) noexcept
    : key_(std::move(other.key_)),
      owner_(std::move(other.owner_)),
      ttl_(other.ttl_),
      state_(other.state_),
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
    state_ = other.state_;
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

void Lock::mark_acquired(const Acquired& acquired) {
  state_->expiration_ms.store(ttl_ ? to_epoch_ms(acquired.written_at) + ttl_->count()
                                   : kNoExpiration);
  state_->held.store(true);
  set_token(acquired.fencing_token);
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock acquired", {{"key", key_}});
  }
}

std::optional<Acquired> Lock::try_once() {
  const auto before = std::chrono::system_clock::now();
  if (fencing_ != nullptr) {
    const auto token = fencing_->save_fenced(key_, owner_, ttl_);
    if (!token) return std::nullopt;
    return Acquired{.written_at = before, .fencing_token = token};
  }
  if (!store_->save(key_, owner_, ttl_)) return std::nullopt;
  return Acquired{.written_at = before};
}

bool Lock::acquire(const AcquireOptions& options) {
  const RetryOptions retry = detail::merge_retry(options.retry, options_->retry);
  const detail::AcquireTarget target{
      .store = store_.get(),
      .kind = detail::QueueKind::lock,
      .key = &key_,
      .can_wait = waitable_ != nullptr,
      .store_orders_waiters = waitable_ != nullptr && waitable_->serves_waiters_in_order(),
  };
  const detail::Observed who(*options_, HoldKind::lock, key_);
  detail::AcquireWatch watch(who);
  return detail::acquire_call(watch, [&] {
    const auto acquired = detail::acquire_loop(
        retry, target, [this] { return try_once(); },
        [this](std::chrono::steady_clock::time_point until,
               std::chrono::steady_clock::time_point since) {
          return waitable_->save_waiting(key_, owner_, ttl_, until, since);
        },
        watch.stats());
    if (!acquired) return false;
    mark_acquired(*acquired);
    return true;
  });
}

bool Lock::acquire_immediately() {
  // Callers of this process already waiting for the key go first.
  const detail::Observed who(*options_, HoldKind::lock, key_);
  detail::AcquireWatch watch(who);
  return detail::acquire_call(watch, [&] {
    const bool queued_by_store = waitable_ != nullptr && waitable_->serves_waiters_in_order();
    if (!queued_by_store && detail::local_waiters(store_.get(), detail::QueueKind::lock, key_)) {
      watch.waited_in_line();
      return false;
    }
    watch.tried_once();
    const auto acquired = try_once();
    if (!acquired) return false;
    mark_acquired(*acquired);
    return true;
  });
}

void Lock::release() {
  detail::release_call(detail::Observed(*options_, HoldKind::lock, key_), false,
                       [&] { store_->remove(key_, owner_); });
  state_->held.store(false);
  detail::local_release(store_.get(), detail::QueueKind::lock, key_);
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
  detail::release_call(detail::Observed(*options_, HoldKind::lock, key_), true,
                       [&] { store_->force_remove(key_); });
  state_->held.store(false);
  detail::local_release(store_.get(), detail::QueueKind::lock, key_);
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
  detail::extend_call(detail::Observed(*options_, HoldKind::lock, key_),
                      [&] { store_->extend(key_, owner_, duration); });
  state_->expiration_ms.store(before + duration.count());
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock extended",
                {{"key", key_}, {"duration", format_duration(duration)}});
  }
}

bool Lock::is_locked() {
  return detail::store_call(detail::Observed(*options_, HoldKind::lock, key_),
                            StoreOperation::exists, [&] { return store_->exists(key_); });
}

bool Lock::is_expired() const {
  const auto expiration = state_->expiration_ms.load();
  return expiration != kNoExpiration && expiration < epoch_ms_now();
}

std::optional<Duration> Lock::remaining_time() const {
  const auto expiration = state_->expiration_ms.load();
  if (expiration == kNoExpiration) return std::nullopt;
  return Duration(std::max<std::int64_t>(0, expiration - epoch_ms_now()));
}

SerializedLock Lock::serialize() const {
  const auto expiration = state_->expiration_ms.load();
  return SerializedLock{
      .key = key_,
      .owner = owner_,
      .ttl = ttl_,
      .expiration_time =
          expiration == kNoExpiration ? std::nullopt : std::optional<std::int64_t>(expiration),
      .fencing_token = fencing_token(),
  };
}

KeepAlive Lock::keep_alive() {
  if (!ttl_) {
    throw InvalidArgumentError("cannot keep alive the lock on \"" + key_ +
                               "\": it has no TTL (it never expires, so it needs no extending)");
  }
  if (!state_->held.load()) {
    throw InvalidArgumentError("cannot keep alive the lock on \"" + key_ +
                               "\": this object does not hold it (never acquired, or released); "
                               "acquire it first");
  }
  if (is_expired()) {
    throw InvalidArgumentError("cannot keep alive the lock on \"" + key_ +
                               "\": its lease ran out; acquire it again");
  }
  return start_keep_alive();
}

KeepAlive Lock::start_keep_alive() {
  // The lease end this object knows, moved to the steady clock the keep-alive runs on.
  const auto now = std::chrono::steady_clock::now();
  const std::int64_t left_ms = state_->expiration_ms.load() - epoch_ms_now();
  Lock shared(*this);
  shared.state_ = state_;
  auto lease = std::make_shared<LockLease>(std::move(shared));
  lease->store_ = store_.get();
  lease->logger_ = options_->logger;
  lease->observer_ = options_->observer;
  lease->store_name_ = options_->store_name;
  return KeepAlive::start(std::move(lease), now + Duration(left_ms));
}

void Lock::release_lost() noexcept {
  // The lease may still be ours in the store (the store failed, then came back): release it
  // if so, quietly; it is not ours, or it expires with its TTL, otherwise.
  try {
    release();
  } catch (const std::exception& e) {
    const auto& logger = options_->logger;
    if (logger && logger->enabled(LogLevel::debug)) {
      logger->log(LogLevel::debug, "Release of a lost lock failed",
                  {{"key", key_}, {"error", e.what()}});
    }
  } catch (...) {
  }
}

void Lock::throw_lost(const KeepAlive& keep) {
  throw LockLostError("the lock on \"" + key_ + "\" was lost while the callback ran (" +
                      keep.lost_reason() + "); the work was not protected to its end");
}

void Lock::lock() {
  if (!acquire()) {
    throw LockTimeoutError("could not acquire the lock on \"" + key_ +
                           "\" within the retry options (attempts/timeout)");
  }
}

}  // namespace verrou
