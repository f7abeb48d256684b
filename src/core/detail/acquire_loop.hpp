// SPDX-License-Identifier: Apache-2.0
// The retry loop shared by `Lock::acquire` and `Semaphore::acquire`: attempts, delay and
// timeout; a store's own waiting (wake-ups on release) where it can wait; and the in-process
// line of callers where the store does not order its waiters itself.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "detail/jitter.hpp"
#include "detail/local_queue.hpp"
#include "verrou/lock.hpp"
#include "verrou/store.hpp"

namespace verrou::detail {

using SteadyClock = std::chrono::steady_clock;

// `t + d`, or the end of time when that would not fit (a timeout of years means "none").
inline SteadyClock::time_point saturating_add(SteadyClock::time_point t, Duration d) {
  if (d >= kMaxTtl) return SteadyClock::time_point::max();
  return t + d;
}

// `options` field by field over the factory's `defaults`, checked.
RetryOptions merge_retry(const RetryOptions& options, const RetryOptions& defaults);

// What the loop needs of the thing being acquired.
//   try_once()            -> std::optional<Acquired>: one plain try
//   wait(until, since)    -> std::optional<Acquired>: one try that waits for a release
//                            (only called when `can_wait`)
struct AcquireTarget {
  const LockStore* store;    // with `kind` and `key`, names the in-process line of callers
  QueueKind kind;
  const std::string* key;
  bool can_wait;             // the store can wait for a release
  bool store_orders_waiters; // the store serves its waiters in order itself
};

// What one acquisition took, for an `Observer`: filled only when the caller asks for it.
struct AcquireStats {
  std::uint64_t attempts = 0;  // tries made of the store
  bool contended = false;      // waited: several tries, behind local callers, or in the store
};

template <class TryOnce, class Wait>
std::optional<Acquired> acquire_loop(const RetryOptions& retry, const AcquireTarget& target,
                                     TryOnce&& try_once, Wait&& wait,
                                     AcquireStats* stats = nullptr) {
  // Counts the tries and notes a wait, without cost when nobody asked.
  auto tried = [stats](std::optional<Acquired> acquired) {
    if (stats != nullptr) {
      ++stats->attempts;
      if (stats->attempts > 1 || (acquired && acquired->waited)) stats->contended = true;
    }
    return acquired;
  };
  const Duration delay = retry.delay.value_or(kDefaultRetryDelay);
  const auto start = SteadyClock::now();
  // No timeout: a deadline that never comes (steady_clock's range is centuries).
  const auto deadline =
      retry.timeout ? saturating_add(start, *retry.timeout) : SteadyClock::time_point::max();

  if (target.can_wait && target.store_orders_waiters) {
    // The store queues its waiters itself and hands a released lock to the first.
    for (std::uint64_t attempt = 1;; ++attempt) {
      const bool last = retry.attempts && attempt >= *retry.attempts;
      if (last) return tried(try_once());
      const auto until = std::min(saturating_add(SteadyClock::now(), delay), deadline);
      if (auto acquired = tried(wait(until, start))) return acquired;
      if (SteadyClock::now() >= deadline) return std::nullopt;
    }
  }

  // Line up with this process's other callers for the key: only the first asks the store,
  // and a release through this store wakes it without waiting out the delay.
  if (stats != nullptr && local_waiters(target.store, target.kind, *target.key)) {
    stats->contended = true;  // in line behind callers of this process
  }
  QueueTicket ticket(target.store, target.kind, *target.key, start);
  for (std::uint64_t attempt = 1;; ++attempt) {
    const bool last = retry.attempts && attempt >= *retry.attempts;
    if (!ticket.wait_front(deadline)) return std::nullopt;
    const std::uint64_t releases_seen = ticket.releases();
    if (target.can_wait && !last) {
      // One attempt that waits for a release, for at most the retry delay.
      const auto until = std::min(saturating_add(SteadyClock::now(), delay), deadline);
      if (auto acquired = tried(wait(until, start))) return acquired;
    } else if (auto acquired = tried(try_once())) {
      return acquired;
    }
    if (last) return std::nullopt;
    if (SteadyClock::now() >= deadline) return std::nullopt;
    if (!target.can_wait) {
      // Jitter only lengthens the pause (100–125 % of the delay), as RetryOptions says.
      const auto pause_end = saturating_add(SteadyClock::now(), jittered_delay(delay));
      ticket.wait_release(releases_seen, std::min(pause_end, deadline));
    }
  }
}

}  // namespace verrou::detail
