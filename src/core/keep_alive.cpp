// SPDX-License-Identifier: Apache-2.0
#include "verrou/keep_alive.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "verrou/errors.hpp"

namespace verrou {

using Clock = std::chrono::steady_clock;

namespace {

// Extension workers per store: enough that a few hung calls do not hold up the other leases
// of the same store, few enough that a dead store cannot make the process spawn threads
// without bound.
constexpr int kMaxWorkersPerStore = 4;
// A worker with nothing to do for this long ends; the next extension starts one again.
constexpr std::chrono::seconds kWorkerIdle{60};
// A lease lost to store failures is declared lost this much before the end the holder knows
// (at most; a twentieth of the TTL for short ones), so that a timer waking a little late still
// signals before the lease ends.
constexpr std::chrono::microseconds kLossMargin{5000};

std::string describe(std::string_view kind, std::string_view key) {
  std::string out(kind);
  out += " \"";
  out += key;
  out += '"';
  return out;
}

std::string capitalized(std::string_view text) {
  std::string out(text);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 32);
  return out;
}

// Set on the scheduler's own threads: a stop() called there (from a lost-token callback) must
// not wait for an extension, or one stuck store would hold up every other lease.
thread_local bool on_scheduler_thread = false;

std::string milliseconds_text(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

}  // namespace

namespace detail {

struct KeepAliveEntry {
  KeepAliveEntry(std::shared_ptr<Lease> l, Duration t)
      : lease(std::move(l)),
        ttl(t),
        interval(std::max(t / 3, Duration(1))),
        retry_interval(std::clamp(t / 10, Duration(1), Duration(1000))),
        margin(std::min<Clock::duration>(kLossMargin, t / 20)),
        store(lease->store_identity()) {}

  const std::shared_ptr<Lease> lease;
  const Duration ttl;
  const Duration interval;        // between successful extensions
  const Duration retry_interval;  // between tries while the store fails
  const Clock::duration margin;   // how long before the lease end a failing lease is lost
  const void* const store;
  std::stop_source source;
  std::atomic<bool> lost{false};  // set with the scheduler's mutex held

  // Guarded by the scheduler's mutex.
  Clock::time_point lease_end{};
  Clock::time_point loss_at{};      // lease_end - margin
  Clock::time_point next_extend{};  // when the next extension is due
  std::optional<std::multimap<Clock::time_point, std::shared_ptr<KeepAliveEntry>>::iterator> timer{};
  bool queued = false;   // waiting in its store's queue
  bool running = false;  // an extension is in flight
  std::thread::id running_on{};
  bool stopped = false;
  bool failing = false;  // the last extension failed with a store error
  std::string last_error{};
  std::string reason{};  // why it was lost
};

}  // namespace detail

namespace {

using Entry = detail::KeepAliveEntry;
using EntryPtr = std::shared_ptr<Entry>;

// A lease found lost, to be announced once the scheduler's mutex is released (callbacks on
// the lost token may call back into the scheduler).
struct Loss {
  EntryPtr entry;
  std::string reason;
};

void announce(const Loss& loss) noexcept {
  loss.entry->source.request_stop();
  loss.entry->lease->lost(loss.reason);
  try {
    const auto logger = loss.entry->lease->logger();
    if (logger && logger->enabled(LogLevel::warn)) {
      const auto& lease = *loss.entry->lease;
      logger->log(LogLevel::warn, capitalized(lease.kind()) + " lost",
                  {{"key", std::string(lease.key())}, {"reason", loss.reason}});
    }
  } catch (...) {  // logging never breaks keeping alive
  }
}

// Every keep-alive of the process: one timer thread, and per store a small pool of workers
// that run the extensions. Made once and never destroyed, so keep-alives that outlive main()
// (static objects) find it still there.
class Scheduler {
 public:
  static Scheduler& instance() {
    static auto* scheduler = [] {
      auto* made = new Scheduler();  // NOLINT(cppcoreguidelines-owning-memory)
      ::pthread_atfork([] { instance().mutex_.lock(); }, [] { instance().mutex_.unlock(); },
                       [] { instance().after_fork_in_child(); });
      return made;
    }();
    return *scheduler;
  }

  void add(const EntryPtr& entry, Clock::time_point lease_end) {
    std::optional<Loss> loss;
    {
      const std::lock_guard lock(mutex_);
      if (!timer_started_) {
        std::thread([this] { timer_loop(); }).detach();
        timer_started_ = true;
      }
      entry->lease_end = lease_end;
      entry->loss_at = lease_end - entry->margin;
      entry->next_extend = lease_end - entry->ttl + entry->interval;
      const auto now = Clock::now();
      if (now >= entry->loss_at) {
        loss = lose(entry, "its lease (" + format_duration(entry->ttl) +
                               ") had already run out when the keep-alive started");
      } else {
        schedule(entry, std::min(entry->next_extend, entry->loss_at));
      }
    }
    if (loss) announce(*loss);
  }

  void stop(Entry& entry) noexcept {
    std::unique_lock lock(mutex_);
    entry.stopped = true;
    unschedule(entry);
    // Once stop returns, the lease is not touched again (unless called on a scheduler thread,
    // from a lost-token callback: the extension in flight, if any, then ends on its own and
    // changes nothing, as the entry is stopped).
    if (!on_scheduler_thread && entry.running_on != std::this_thread::get_id()) {
      extension_done_.wait(lock, [&] { return !entry.running; });
    }
  }

  std::string reason(const Entry& entry) {
    const std::lock_guard lock(mutex_);
    return entry.reason;
  }

  bool active(const Entry& entry) {
    const std::lock_guard lock(mutex_);
    return !entry.stopped && !entry.lost.load();
  }

 private:
  struct Lane {
    std::deque<EntryPtr> queue;
    int workers = 0;
    int idle = 0;
    std::condition_variable wake;
  };

  Scheduler() = default;

  // The forking thread holds mutex_ (atfork prepare). The child has none of the scheduler's
  // threads: the parent's keep-alives cannot go on in it (their leases are the parent's), so
  // they count as lost there, and the next keep-alive starts the threads again.
  void after_fork_in_child() {
    for (auto& [at, entry] : timers_) {
      entry->timer.reset();
      entry->queued = false;
      entry->running = false;  // its worker is not in this process
      entry->running_on = {};
      entry->reason = "the process forked: a keep-alive does not follow fork()";
      entry->lost.store(true);
    }
    timers_.clear();
    // Condition variables the parent's threads waited on cannot be used (nor destroyed: glibc
    // waits for their waiters) in the child: the lanes are left behind, the scheduler's own
    // are made anew over the old ones.
    new std::unordered_map<const void*, std::shared_ptr<Lane>>(std::move(lanes_));  // NOLINT
    lanes_.clear();
    new (&timer_wake_) std::condition_variable();
    new (&extension_done_) std::condition_variable();
    timer_started_ = false;
    mutex_.unlock();
  }

  // The caller holds mutex_.
  void schedule(const EntryPtr& entry, Clock::time_point at) {
    unschedule(*entry);
    const bool earliest = timers_.empty() || at < timers_.begin()->first;
    entry->timer = timers_.emplace(at, entry);
    if (earliest) timer_wake_.notify_one();
  }

  void unschedule(Entry& entry) {
    if (entry.timer) {
      timers_.erase(*entry.timer);
      entry.timer.reset();
    }
  }

  Loss lose(const EntryPtr& entry, std::string reason) {
    entry->lost.store(true);
    entry->reason = reason;
    unschedule(*entry);
    return Loss{entry, std::move(reason)};
  }

  void dispatch(const EntryPtr& entry) {
    auto& lane = lanes_[entry->store];
    if (!lane) lane = std::make_shared<Lane>();
    lane->queue.push_back(entry);
    entry->queued = true;
    if (static_cast<int>(lane->queue.size()) <= lane->idle) {
      lane->wake.notify_one();
      return;
    }
    if (lane->workers < kMaxWorkersPerStore) {
      try {
        std::thread([this, lane, store = entry->store] { worker_loop(lane, store); }).detach();
        ++lane->workers;
      } catch (const std::system_error&) {
        // No thread now: a worker already running takes it, or the lease runs out and is
        // declared lost on time all the same.
      }
    }
    if (lane->idle > 0) lane->wake.notify_one();
  }

  void timer_loop() {
    on_scheduler_thread = true;
    std::unique_lock lock(mutex_);
    std::vector<Loss> losses;
    for (;;) {
      if (timers_.empty()) {
        timer_wake_.wait(lock);
        continue;
      }
      const auto now = Clock::now();
      // A copy: while this thread waits, another may erase that timer.
      const Clock::time_point first = timers_.begin()->first;
      if (first > now) {
        timer_wake_.wait_until(lock, first);
        continue;
      }
      while (!timers_.empty() && timers_.begin()->first <= now) {
        const EntryPtr entry = timers_.begin()->second;
        timers_.erase(timers_.begin());
        entry->timer.reset();
        if (now >= entry->loss_at) {
          losses.push_back(lose(entry, lease_end_reason(*entry)));
        } else if (!entry->queued && !entry->running && now >= entry->next_extend) {
          dispatch(entry);
          schedule(entry, entry->loss_at);
        } else if (entry->queued || entry->running) {
          schedule(entry, entry->loss_at);
        } else {
          schedule(entry, std::min(entry->next_extend, entry->loss_at));
        }
      }
      if (!losses.empty()) {
        lock.unlock();
        for (const auto& loss : losses) announce(loss);
        losses.clear();
        lock.lock();
      }
    }
  }

  static std::string lease_end_reason(const Entry& entry) {
    if (entry.running || entry.queued) {
      return "the store did not answer an extension before the lease (" +
             format_duration(entry.ttl) + ") ran out" +
             (entry.failing ? "; last error: " + entry.last_error : std::string());
    }
    if (entry.failing) {
      return "the store failed until the lease (" + format_duration(entry.ttl) +
             ") ran out; last error: " + entry.last_error;
    }
    // Due for an extension long ago, yet never tried: the process did not run (stopped with
    // SIGSTOP, suspended, starved of CPU).
    return "the lease (" + format_duration(entry.ttl) +
           ") ran out before it could be extended (was the process paused?)";
  }

  enum class Outcome { extended, not_owned, failed };

  void worker_loop(const std::shared_ptr<Lane>& lane, const void* store) {
    on_scheduler_thread = true;
    std::unique_lock lock(mutex_);
    for (;;) {
      if (lane->queue.empty()) {
        ++lane->idle;
        const bool woken =
            lane->wake.wait_for(lock, kWorkerIdle, [&] { return !lane->queue.empty(); });
        --lane->idle;
        if (!woken) {
          --lane->workers;
          if (lane->workers == 0) {
            const auto it = lanes_.find(store);
            if (it != lanes_.end() && it->second == lane) lanes_.erase(it);
          }
          return;
        }
      }
      const EntryPtr entry = lane->queue.front();
      lane->queue.pop_front();
      entry->queued = false;
      if (entry->stopped || entry->lost.load()) continue;
      entry->running = true;
      entry->running_on = std::this_thread::get_id();
      lock.unlock();

      const auto started = Clock::now();
      Outcome outcome = Outcome::extended;
      std::string error;
      try {
        entry->lease->extend_lease();
      } catch (const LockNotOwnedError& e) {
        outcome = Outcome::not_owned;
        error = e.what();
      } catch (const std::exception& e) {
        outcome = Outcome::failed;
        error = e.what();
      } catch (...) {
        outcome = Outcome::failed;
        error = "an exception that is not a std::exception";
      }
      const auto ended = Clock::now();

      lock.lock();
      entry->running = false;
      entry->running_on = {};
      extension_done_.notify_all();
      if (entry->stopped || entry->lost.load()) continue;
      std::optional<Loss> loss;
      enum class Note { none, failing, recovered } note = Note::none;
      if (outcome == Outcome::extended) {
        entry->lease_end = std::max(entry->lease_end, started + entry->ttl);
        entry->loss_at = entry->lease_end - entry->margin;
        entry->next_extend = started + entry->interval;
        if (entry->failing) note = Note::recovered;
        entry->failing = false;
        if (ended >= entry->loss_at) {
          loss = lose(entry, "an extension took longer than the lease (" +
                                 format_duration(entry->ttl) + ")");
        } else {
          schedule(entry, std::min(entry->next_extend, entry->loss_at));
        }
      } else if (outcome == Outcome::not_owned) {
        loss = lose(entry,
                    "the store says this owner no longer holds it (its lease ran out, or "
                    "someone force-released it): " +
                        error);
      } else {
        entry->last_error = error;
        if (ended >= entry->loss_at) {
          loss = lose(entry, "the store failed until the lease (" + format_duration(entry->ttl) +
                                 ") ran out; last error: " + error);
        } else {
          if (!entry->failing) note = Note::failing;
          entry->failing = true;
          entry->next_extend = ended + entry->retry_interval;
          schedule(entry, std::min(entry->next_extend, entry->loss_at));
        }
      }
      // Straight on to the next extension, the mutex still held, unless there is something to
      // say (outside it: callbacks and loggers may call back in).
      if (loss || note != Note::none) {
        const auto left = entry->lease_end - ended;
        lock.unlock();
        if (loss) announce(*loss);
        if (note != Note::none) log_note(*entry, note == Note::failing, error, left);
        lock.lock();
      }
    }
  }

  static void log_note(const Entry& entry, bool failing, const std::string& error,
                       Clock::duration left) noexcept {
    try {
      const auto logger = entry.lease->logger();
      const auto level = failing ? LogLevel::warn : LogLevel::info;
      if (!logger || !logger->enabled(level)) return;
      const auto what = describe(entry.lease->kind(), entry.lease->key());
      if (failing) {
        logger->log(level, "Could not extend the " + what + "; retrying while the lease lasts",
                    {{"error", error}, {"lease_left", milliseconds_text(left)}});
      } else {
        logger->log(level, "Extending the " + what + " works again", {});
      }
    } catch (...) {  // logging never breaks keeping alive
    }
  }

  std::mutex mutex_;
  std::condition_variable timer_wake_;
  std::condition_variable extension_done_;
  std::multimap<Clock::time_point, EntryPtr> timers_;
  std::unordered_map<const void*, std::shared_ptr<Lane>> lanes_;
  bool timer_started_ = false;
};

}  // namespace

KeepAlive::KeepAlive() noexcept = default;
KeepAlive::KeepAlive(std::shared_ptr<detail::KeepAliveEntry> entry) noexcept : entry_(std::move(entry)) {}
KeepAlive::KeepAlive(KeepAlive&& other) noexcept = default;

KeepAlive& KeepAlive::operator=(KeepAlive&& other) noexcept {
  if (this != &other) {
    stop();
    entry_ = std::move(other.entry_);
  }
  return *this;
}

KeepAlive::~KeepAlive() { stop(); }

KeepAlive KeepAlive::start(std::shared_ptr<Lease> lease, Clock::time_point lease_end) {
  if (!lease) throw InvalidArgumentError("KeepAlive::start needs a lease; got a null pointer");
  const Duration ttl = lease->lease_ttl();
  if (ttl <= Duration::zero()) {
    throw InvalidArgumentError("cannot keep alive the " + describe(lease->kind(), lease->key()) +
                               ": its TTL must be above zero, got " + std::to_string(ttl.count()) +
                               "ms");
  }
  auto entry = std::make_shared<Entry>(std::move(lease), ttl);
  Scheduler::instance().add(entry, lease_end);
  return KeepAlive(std::move(entry));
}

std::stop_token KeepAlive::lost_token() const noexcept {
  return entry_ ? entry_->source.get_token() : std::stop_token{};
}

bool KeepAlive::lost() const noexcept { return entry_ && entry_->lost.load(); }

std::string KeepAlive::lost_reason() const {
  return entry_ ? Scheduler::instance().reason(*entry_) : std::string();
}

void KeepAlive::stop() noexcept {
  if (entry_) Scheduler::instance().stop(*entry_);
}

bool KeepAlive::active() const noexcept {
  return entry_ && Scheduler::instance().active(*entry_);
}

}  // namespace verrou
