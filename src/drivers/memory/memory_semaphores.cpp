// SPDX-License-Identifier: Apache-2.0
// The memory store's semaphores: per key, the holders with their leases and limits, and the
// callers waiting for a permit, served in the order they began to wait.
#include <algorithm>
#include <condition_variable>
#include <functional>
#include <limits>
#include <unordered_map>
#include <vector>

#include "detail/text.hpp"
#include "verrou/drivers/memory.hpp"
#include "verrou/errors.hpp"
#include "verrou/semaphore.hpp"

namespace verrou {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

struct PermitWaiter {
  PermitWaiter(const std::string& o, std::uint32_t l, std::optional<Duration> t, SteadyTime s)
      : owner(&o), limit(l), ttl(t), since(s) {}
  const std::string* owner;
  std::uint32_t limit;
  std::optional<Duration> ttl;
  SteadyTime since;
  std::condition_variable wake;
  bool granted = false;
  Acquired acquired;
};

struct Holder {
  std::optional<SteadyTime> expires_at;  // nullopt: never
  std::uint32_t limit = 0;               // the limit it was admitted under
};

struct SemaphoreEntry {
  std::unordered_map<std::string, Holder> holders;
  std::vector<PermitWaiter*> waiters;  // earliest `since` first

  void prune(SteadyTime now) {
    std::erase_if(holders, [&](const auto& h) {
      return h.second.expires_at && *h.second.expires_at <= now;
    });
  }
  // Room for one more holder admitted under `limit`: fewer holders than the smallest limit
  // among them and the newcomer's.
  [[nodiscard]] bool room_for(std::uint32_t limit) const {
    std::uint32_t smallest = limit;
    for (const auto& h : holders) smallest = std::min(smallest, h.second.limit);
    return holders.size() < smallest;
  }
  void add(const std::string& owner, std::uint32_t limit, std::optional<Duration> ttl,
           SteadyTime now) {
    holders[owner] = Holder{ttl ? std::optional(now + *ttl) : std::nullopt, limit};
  }
  // Grants permits to waiters from the front while there is room for them. Strictly in order:
  // a front waiter with a smaller limit is not passed by later ones. Called under the shard's
  // mutex; the notify stays under it so the waiter cannot return and free its variable first.
  void serve_waiters(SteadyTime now) {
    while (!waiters.empty()) {
      PermitWaiter* w = waiters.front();
      if (holders.contains(*w->owner) || !room_for(w->limit)) return;
      waiters.erase(waiters.begin());
      add(*w->owner, w->limit, w->ttl, now);
      w->granted = true;
      w->acquired = Acquired{.written_at = std::chrono::system_clock::now(), .waited = true};
      w->wake.notify_one();
    }
  }
  [[nodiscard]] std::optional<SteadyTime> earliest_expiry() const {
    std::optional<SteadyTime> earliest;
    for (const auto& h : holders) {
      if (h.second.expires_at && (!earliest || *h.second.expires_at < *earliest)) {
        earliest = h.second.expires_at;
      }
    }
    return earliest;
  }
};

void check_arguments(const std::string& key, std::uint32_t limit, std::optional<Duration> ttl) {
  validate_key(key);
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
}

[[noreturn]] void no_permit(const std::string& key, std::string_view action) {
  throw LockNotOwnedError("cannot " + std::string(action) + " the permit of semaphore " +
                          detail::quote(key) +
                          ": this holder has none (never acquired, already released, or "
                          "expired)");
}

}  // namespace

struct MemoryStore::SemaphoreShard {
  std::mutex mutex;
  std::unordered_map<std::string, SemaphoreEntry> entries;
  std::size_t sweep_at = kMinSweep;

  static constexpr std::size_t kMinSweep = 64;

  // Drops entries without live holders or waiters once the map has doubled since the last
  // sweep, so memory stays within twice the semaphores in use.
  void maybe_sweep(SteadyTime now) {
    if (entries.size() < sweep_at) return;
    for (auto it = entries.begin(); it != entries.end();) {
      SemaphoreEntry& e = it->second;
      e.prune(now);
      e.serve_waiters(now);
      it = e.holders.empty() && e.waiters.empty() ? entries.erase(it) : std::next(it);
    }
    sweep_at = std::max(kMinSweep, entries.size() * 2);
  }

  // After `entry` lost holders: serve its waiters, or drop it when nothing is left.
  void freed(std::unordered_map<std::string, SemaphoreEntry>::iterator it, SteadyTime now) {
    it->second.serve_waiters(now);
    if (it->second.holders.empty() && it->second.waiters.empty()) entries.erase(it);
  }
};

std::shared_ptr<MemoryStore::SemaphoreShard> MemoryStore::make_semaphore_shards() {
  auto shards = std::make_shared<std::vector<SemaphoreShard>>(kShards);
  return {shards, shards->data()};
}

MemoryStore::SemaphoreShard& MemoryStore::semaphore_shard_for(const std::string& key) const {
  return semaphore_shards_.get()[std::hash<std::string>{}(key) % kShards];
}

bool MemoryStore::save_permit(const std::string& key, const std::string& holder,
                              std::uint32_t limit, std::optional<Duration> ttl) {
  check_arguments(key, limit, ttl);
  SemaphoreShard& shard = semaphore_shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    shard.maybe_sweep(now);
    it = shard.entries.try_emplace(key).first;
  }
  SemaphoreEntry& e = it->second;
  e.prune(now);
  e.serve_waiters(now);  // those already waiting go first
  if (!e.waiters.empty() || e.holders.contains(holder) || !e.room_for(limit)) {
    if (e.holders.empty() && e.waiters.empty()) shard.entries.erase(it);
    return false;
  }
  e.add(holder, limit, ttl, now);
  return true;
}

std::optional<Acquired> MemoryStore::save_permit_waiting(
    const std::string& key, const std::string& holder, std::uint32_t limit,
    std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point waiting_since) {
  check_arguments(key, limit, ttl);
  SemaphoreShard& shard = semaphore_shard_for(key);
  std::unique_lock lock(shard.mutex);
  auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    shard.maybe_sweep(now);
    it = shard.entries.try_emplace(key).first;
  }
  SemaphoreEntry& e = it->second;  // stays valid: an entry with waiters is never erased
  e.prune(now);
  e.serve_waiters(now);
  if (e.holders.contains(holder)) return std::nullopt;
  if (e.waiters.empty() && e.room_for(limit)) {
    const auto written = std::chrono::system_clock::now();
    e.add(holder, limit, ttl, now);
    return Acquired{.written_at = written};
  }
  if (now >= until) {
    if (e.holders.empty() && e.waiters.empty()) shard.entries.erase(it);
    return std::nullopt;
  }

  PermitWaiter self(holder, limit, ttl, waiting_since);
  const auto position = std::upper_bound(
      e.waiters.begin(), e.waiters.end(), waiting_since,
      [](SteadyTime since, const PermitWaiter* w) { return since < w->since; });
  e.waiters.insert(position, &self);

  for (;;) {
    if (!self.granted) {
      e.prune(now);  // a holder's lease ran out: its permit is free
      e.serve_waiters(now);
    }
    if (self.granted) return self.acquired;
    if (now >= until) {
      e.waiters.erase(std::find(e.waiters.begin(), e.waiters.end(), &self));
      // The front may have changed: a later waiter may fit now.
      e.serve_waiters(now);
      if (e.holders.empty() && e.waiters.empty()) shard.entries.erase(key);
      return std::nullopt;
    }
    auto wake_at = until;
    if (auto expiry = e.earliest_expiry()) wake_at = std::min(wake_at, *expiry);
    self.wake.wait_until(lock, wake_at);
    now = SteadyClock::now();
  }
}

void MemoryStore::remove_permit(const std::string& key, const std::string& holder) {
  validate_key(key);
  SemaphoreShard& shard = semaphore_shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) no_permit(key, "release");
  it->second.prune(now);
  if (it->second.holders.erase(holder) == 0) {
    shard.freed(it, now);
    no_permit(key, "release");
  }
  shard.freed(it, now);
}

void MemoryStore::extend_permit(const std::string& key, const std::string& holder,
                                Duration duration) {
  validate_key(key);
  validate_ttl(duration);
  SemaphoreShard& shard = semaphore_shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) no_permit(key, "extend");
  it->second.prune(now);
  auto h = it->second.holders.find(holder);
  if (h == it->second.holders.end()) {
    shard.freed(it, now);
    no_permit(key, "extend");
  }
  h->second.expires_at = now + duration;
}

std::uint32_t MemoryStore::count_permits(const std::string& key) {
  validate_key(key);
  SemaphoreShard& shard = semaphore_shard_for(key);
  const std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return 0;
  const auto now = SteadyClock::now();
  it->second.prune(now);
  const auto count = static_cast<std::uint32_t>(it->second.holders.size());
  shard.freed(it, now);
  return count;
}

}  // namespace verrou
