// SPDX-License-Identifier: Apache-2.0
// The semaphore side of the mutual-exclusion checker (mutex_check.cpp, `--limit N`): what a
// worker holds (a lock, or a permit of a semaphore of N), and the two checks that never more
// than N holders held a permit of one key at once:
//
//  - by the clock: the holds' intervals [acquired, min(released, lease end)) on
//    CLOCK_REALTIME, shared by the processes of one machine. The recorded interval of a hold
//    lies inside the real one (acquired-at is read after acquire returned, released-at before
//    release is called; the lease end is a lower bound), so more than N of them at one
//    instant is a real excess;
//  - by the order of events: each hold takes a sequence number from a per-key counter under
//    flock on entry (after acquire returned) and on exit (before release is called). Among
//    holds that released in time (their lease was valid from entry to exit), more than N
//    inside at one point of that total order is an excess whatever the clocks say.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "verrou/lock.hpp"
#include "verrou/semaphore.hpp"

namespace verrou::stress {

/// A worker's lease: a lock, or a permit of a semaphore.
class LockOrPermit {
 public:
  explicit LockOrPermit(Lock lock) : held_(std::move(lock)) {}
  explicit LockOrPermit(Semaphore permit) : held_(std::move(permit)) {}

  bool acquire(const AcquireOptions& options) {
    return std::visit([&](auto& h) { return h.acquire(options); }, held_);
  }
  void release() {
    std::visit([](auto& h) { h.release(); }, held_);
  }
  [[nodiscard]] std::string owner() const {
    return std::visit([](const auto& h) { return h.owner(); }, held_);
  }
  [[nodiscard]] std::optional<Duration> remaining_time() const {
    return std::visit([](const auto& h) { return h.remaining_time(); }, held_);
  }
  /// Semaphores give no tokens: their holders run side by side.
  [[nodiscard]] std::optional<std::uint64_t> fencing_token() const {
    const auto* lock = std::get_if<Lock>(&held_);
    return lock != nullptr ? lock->fencing_token() : std::nullopt;
  }

 private:
  std::variant<Lock, Semaphore> held_;
};

/// A permit hold of one key, as the checks see it.
struct PermitInterval {
  std::int64_t start = 0;  ///< acquired-at (ns)
  std::int64_t end = 0;    ///< min(released-at, lease end) (ns)
  std::int64_t entry = 0;  ///< sequence number taken on entry
  std::int64_t exit = 0;   ///< sequence number taken on exit
  bool in_time = false;    ///< released successfully before its lease end, not stalled
  std::size_t index = 0;   ///< into the caller's list, for messages
};

namespace detail {

// Sweeps (position, +1 entering / -1 leaving, index) events, ends before starts at one
// position; calls `excess(inside, position)` once each time the count goes above `limit`.
using Excess = std::function<void(const std::vector<std::size_t>&, std::int64_t)>;

inline void sweep(std::vector<std::tuple<std::int64_t, int, std::size_t>> events,
                  std::uint32_t limit, const Excess& excess) {
  std::sort(events.begin(), events.end());
  std::set<std::size_t> inside;
  bool over = false;
  for (const auto& [at, delta, index] : events) {
    if (delta < 0) {
      inside.erase(index);
    } else {
      inside.insert(index);
    }
    if (inside.size() > limit && !over) {
      excess(std::vector<std::size_t>(inside.begin(), inside.end()), at);
    }
    over = inside.size() > limit;
  }
}

}  // namespace detail

/// More than `limit` holds of one key with valid leases at one instant (by the clock).
/// Calls `excess(indexes inside, instant)` once per excess episode.
inline void check_limit_by_clock(
    const std::vector<PermitInterval>& holds, std::uint32_t limit,
    const std::function<void(const std::vector<std::size_t>&, std::int64_t)>& excess) {
  std::vector<std::tuple<std::int64_t, int, std::size_t>> events;
  for (const auto& h : holds) {
    if (h.end <= h.start) continue;  // the lease was gone before the hold began
    events.emplace_back(h.start, +1, h.index);
    events.emplace_back(h.end, -1, h.index);
  }
  detail::sweep(std::move(events), limit, excess);
}

/// More than `limit` holds released in time inside at one point of the order of their
/// entry and exit sequence numbers. Calls `excess(indexes inside, sequence number)` once per
/// excess episode.
inline void check_limit_by_order(
    const std::vector<PermitInterval>& holds, std::uint32_t limit,
    const std::function<void(const std::vector<std::size_t>&, std::int64_t)>& excess) {
  std::vector<std::tuple<std::int64_t, int, std::size_t>> events;
  for (const auto& h : holds) {
    if (!h.in_time || h.exit <= h.entry) continue;
    events.emplace_back(h.entry, +1, h.index);
    events.emplace_back(h.exit, -1, h.index);
  }
  detail::sweep(std::move(events), limit, excess);
}

}  // namespace verrou::stress
