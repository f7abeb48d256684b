// SPDX-License-Identifier: Apache-2.0
#include "verrou/semaphore.hpp"

#include <algorithm>
#include <chrono>

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

SemaphoreStore* semaphore_store_of(const std::shared_ptr<LockStore>& store,
                                   const std::string& key) {
  if (!store) throw InvalidArgumentError("a Semaphore needs a store; got a null store pointer");
  auto* semaphores = dynamic_cast<SemaphoreStore*>(store.get());
  if (semaphores == nullptr) {
    throw InvalidArgumentError("cannot create the semaphore \"" + key +
                               "\": this store does not support semaphores (it does not "
                               "implement verrou::SemaphoreStore); use one that does");
  }
  return semaphores;
}

// What a keep-alive extends: this holder's permit in its store, moving the expiration the
// semaphore object knows (shared with it) along.
class SemaphoreLease final : public Lease {
 public:
  explicit SemaphoreLease(Semaphore semaphore) : semaphore_(std::move(semaphore)) {}
  void extend_lease() override { semaphore_.extend(); }
  [[nodiscard]] Duration lease_ttl() const override {
    return semaphore_.ttl().value_or(Duration(0));
  }
  [[nodiscard]] const void* store_identity() const noexcept override { return store_; }
  [[nodiscard]] std::string_view kind() const noexcept override { return "semaphore"; }
  [[nodiscard]] std::string_view key() const noexcept override { return semaphore_.key(); }
  [[nodiscard]] std::shared_ptr<Logger> logger() const override { return logger_; }
  void lost(std::string_view reason) noexcept override {
    if (!observer_) return;
    observer_->on_lost(LostEvent{.store = store_name_,
                                 .kind = HoldKind::semaphore,
                                 .key = semaphore_.key(),
                                 .reason = reason});
  }

  const void* store_ = nullptr;
  std::shared_ptr<Logger> logger_;
  std::shared_ptr<Observer> observer_;
  std::string store_name_;

 private:
  Semaphore semaphore_;
};

}  // namespace

void validate_semaphore_limit(std::uint64_t limit) {
  if (limit == 0 || limit > kMaxSemaphoreLimit) {
    throw InvalidArgumentError("invalid semaphore limit " + std::to_string(limit) +
                               ": a semaphore admits 1 to 2147483648 holders at once");
  }
}

Semaphore::Semaphore(std::string key, std::uint32_t limit, std::shared_ptr<LockStore> store,
                     std::shared_ptr<const LockFactoryOptions> options,
                     std::optional<Duration> ttl, std::string owner)
    : key_(std::move(key)),
      owner_(owner.empty() ? detail::new_owner_token() : std::move(owner)),
      limit_(limit),
      ttl_(ttl),
      state_(std::make_shared<State>()),
      store_(std::move(store)),
      options_(std::move(options)) {
  semaphores_ = semaphore_store_of(store_, key_);
  waitable_ = dynamic_cast<WaitableSemaphoreStore*>(store_.get());
  validate_key(key_);
  validate_ttl(ttl_);
  validate_semaphore_limit(limit_);
  if (!options_) options_ = std::make_shared<const LockFactoryOptions>(LockFactoryOptions{});
}

Semaphore::Semaphore(const Semaphore& other)
    : key_(other.key_),
      owner_(other.owner_),
      limit_(other.limit_),
      ttl_(other.ttl_),
      state_(std::make_shared<State>()),
      store_(other.store_),
      semaphores_(other.semaphores_),
      waitable_(other.waitable_),
      options_(other.options_) {
  state_->expiration_ms.store(other.state_->expiration_ms.load());
  state_->held.store(other.state_->held.load());
}

Semaphore& Semaphore::operator=(const Semaphore& other) {
  if (this != &other) {
    key_ = other.key_;
    owner_ = other.owner_;
    limit_ = other.limit_;
    ttl_ = other.ttl_;
    auto state = std::make_shared<State>();
    state->expiration_ms.store(other.state_->expiration_ms.load());
    state->held.store(other.state_->held.load());
    state_ = std::move(state);
    store_ = other.store_;
    semaphores_ = other.semaphores_;
    waitable_ = other.waitable_;
    options_ = other.options_;
  }
  return *this;
}

// A moved-from semaphore keeps sharing the state (it has no store left to act on, but its
// accessors still answer).
Semaphore::Semaphore(Semaphore&& other) noexcept
    : key_(std::move(other.key_)),
      owner_(std::move(other.owner_)),
      limit_(other.limit_),
      ttl_(other.ttl_),
      state_(other.state_),
      store_(std::move(other.store_)),
      semaphores_(other.semaphores_),
      waitable_(other.waitable_),
      options_(std::move(other.options_)) {}

Semaphore& Semaphore::operator=(Semaphore&& other) noexcept {
  if (this != &other) {
    key_ = std::move(other.key_);
    owner_ = std::move(other.owner_);
    limit_ = other.limit_;
    ttl_ = other.ttl_;
    state_ = other.state_;
    store_ = std::move(other.store_);
    semaphores_ = other.semaphores_;
    waitable_ = other.waitable_;
    options_ = std::move(other.options_);
  }
  return *this;
}

void Semaphore::mark_acquired(const Acquired& acquired) {
  state_->expiration_ms.store(ttl_ ? to_epoch_ms(acquired.written_at) + ttl_->count()
                                   : kNoExpiration);
  state_->held.store(true);
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Semaphore permit acquired",
                {{"key", key_}, {"limit", std::to_string(limit_)}});
  }
}

std::optional<Acquired> Semaphore::try_once() {
  const auto before = std::chrono::system_clock::now();
  if (!semaphores_->save_permit(key_, owner_, limit_, ttl_)) return std::nullopt;
  return Acquired{.written_at = before};
}

bool Semaphore::acquire(const AcquireOptions& options) {
  const RetryOptions retry = detail::merge_retry(options.retry, options_->retry);
  const detail::AcquireTarget target{
      .store = store_.get(),
      .kind = detail::QueueKind::semaphore,
      .key = &key_,
      .can_wait = waitable_ != nullptr,
      .store_orders_waiters = false,
  };
  const detail::Observed who(*options_, HoldKind::semaphore, key_);
  detail::AcquireWatch watch(who);
  return detail::acquire_call(watch, [&] {
    const auto acquired = detail::acquire_loop(
        retry, target, [this] { return try_once(); },
        [this](std::chrono::steady_clock::time_point until,
               std::chrono::steady_clock::time_point since) {
          return waitable_->save_permit_waiting(key_, owner_, limit_, ttl_, until, since);
        },
        watch.stats());
    if (!acquired) return false;
    mark_acquired(*acquired);
    return true;
  });
}

bool Semaphore::acquire_immediately() {
  // Callers of this process already waiting for a permit go first.
  const detail::Observed who(*options_, HoldKind::semaphore, key_);
  detail::AcquireWatch watch(who);
  return detail::acquire_call(watch, [&] {
    if (detail::local_waiters(store_.get(), detail::QueueKind::semaphore, key_)) {
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

void Semaphore::release() {
  detail::release_call(detail::Observed(*options_, HoldKind::semaphore, key_), false,
                       [&] { semaphores_->remove_permit(key_, owner_); });
  state_->held.store(false);
  detail::local_release(store_.get(), detail::QueueKind::semaphore, key_);
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Semaphore permit released", {{"key", key_}});
  }
}

void Semaphore::release_after_failure() noexcept {
  try {
    release();
  } catch (const std::exception& e) {
    const auto& logger = options_->logger;
    if (logger && logger->enabled(LogLevel::warn)) {
      logger->log(LogLevel::warn, "Semaphore release after a failed callback failed",
                  {{"key", key_}, {"error", e.what()}});
    }
  } catch (...) {
  }
}

void Semaphore::extend() {
  if (!ttl_) {
    throw InvalidArgumentError("cannot extend the permit of semaphore \"" + key_ +
                               "\": it has no TTL (it never expires)");
  }
  extend(*ttl_);
}

void Semaphore::extend(Duration duration) {
  if (!ttl_) {
    throw InvalidArgumentError("cannot extend the permit of semaphore \"" + key_ +
                               "\": it has no TTL (it never expires)");
  }
  validate_ttl(duration);
  const std::int64_t before = epoch_ms_now();
  detail::extend_call(detail::Observed(*options_, HoldKind::semaphore, key_),
                      [&] { semaphores_->extend_permit(key_, owner_, duration); });
  state_->expiration_ms.store(before + duration.count());
  const auto& logger = options_->logger;
  if (logger && logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Semaphore permit extended",
                {{"key", key_}, {"duration", format_duration(duration)}});
  }
}

std::uint32_t Semaphore::holders() {
  return detail::store_call(detail::Observed(*options_, HoldKind::semaphore, key_),
                            StoreOperation::count, [&] { return semaphores_->count_permits(key_); });
}

bool Semaphore::is_expired() const {
  const auto expiration = state_->expiration_ms.load();
  return expiration != kNoExpiration && expiration < epoch_ms_now();
}

std::optional<Duration> Semaphore::remaining_time() const {
  const auto expiration = state_->expiration_ms.load();
  if (expiration == kNoExpiration) return std::nullopt;
  return Duration(std::max<std::int64_t>(0, expiration - epoch_ms_now()));
}

KeepAlive Semaphore::keep_alive() {
  if (!ttl_) {
    throw InvalidArgumentError("cannot keep alive the permit of semaphore \"" + key_ +
                               "\": it has no TTL (it never expires, so it needs no extending)");
  }
  if (!state_->held.load()) {
    throw InvalidArgumentError("cannot keep alive the permit of semaphore \"" + key_ +
                               "\": this object holds none (never acquired, or given back); "
                               "acquire one first");
  }
  if (is_expired()) {
    throw InvalidArgumentError("cannot keep alive the permit of semaphore \"" + key_ +
                               "\": its lease ran out; acquire one again");
  }
  return start_keep_alive();
}

KeepAlive Semaphore::start_keep_alive() {
  // The lease end this object knows, moved to the steady clock the keep-alive runs on.
  const auto now = std::chrono::steady_clock::now();
  const std::int64_t left_ms = state_->expiration_ms.load() - epoch_ms_now();
  Semaphore shared(*this);
  shared.state_ = state_;
  auto lease = std::make_shared<SemaphoreLease>(std::move(shared));
  lease->store_ = store_.get();
  lease->logger_ = options_->logger;
  lease->observer_ = options_->observer;
  lease->store_name_ = options_->store_name;
  return KeepAlive::start(std::move(lease), now + Duration(left_ms));
}

void Semaphore::release_lost() noexcept {
  // The permit may still be ours in the store (the store failed, then came back): give it
  // back if so, quietly; it is not ours, or it expires with its TTL, otherwise.
  try {
    release();
  } catch (const std::exception& e) {
    const auto& logger = options_->logger;
    if (logger && logger->enabled(LogLevel::debug)) {
      logger->log(LogLevel::debug, "Release of a lost semaphore permit failed",
                  {{"key", key_}, {"error", e.what()}});
    }
  } catch (...) {
  }
}

void Semaphore::throw_lost(const KeepAlive& keep) {
  throw LockLostError("the permit of semaphore \"" + key_ + "\" was lost while the callback ran (" +
                      keep.lost_reason() + "); the work was not protected to its end");
}

void Semaphore::lock() {
  if (!acquire()) {
    throw LockTimeoutError("could not acquire a permit of semaphore \"" + key_ +
                           "\" within the retry options (attempts/timeout)");
  }
}

}  // namespace verrou
