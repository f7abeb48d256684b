// SPDX-License-Identifier: Apache-2.0
// src/drivers/memory: the in-process store; always built, inside verrou_core.
#include "verrou/drivers/memory.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <vector>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// A thread blocked in save_waiting. Lives on that thread's stack; the entry's queue points
// at it while it waits, and a releasing thread hands it the lock directly.
struct Waiter {
  Waiter(const std::string& o, std::optional<Duration> t, SteadyTime s)
      : owner(&o), ttl(t), since(s) {}
  const std::string* owner;
  std::optional<Duration> ttl;
  SteadyTime since;
  std::condition_variable wake;
  bool granted = false;
  Acquired acquired;
};

struct Entry {
  std::string owner;                    // empty: nobody (only while waiters remain)
  std::optional<SteadyTime> expires_at;  // nullopt: never
  std::vector<Waiter*> waiters;         // earliest `since` first
  std::uint64_t token = 0;              // the holder's fencing token

  [[nodiscard]] bool held(SteadyTime now) const {
    return !owner.empty() && (!expires_at || *expires_at > now);
  }
  // Tokens come from one counter per store, taken under the key's shard mutex: every
  // acquisition of a key happens under that mutex, so its tokens increase in acquisition order.
  void take(const std::string& new_owner, std::optional<Duration> ttl, SteadyTime now,
            std::atomic<std::uint64_t>& tokens) {
    owner = new_owner;
    expires_at = ttl ? std::optional(now + *ttl) : std::nullopt;
    token = tokens.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  // Hands a free lock to the longest waiter. Called with the shard locked; the notify stays
  // under the lock so the waiter cannot return and free its condition variable first.
  void grant_front(SteadyTime now, std::atomic<std::uint64_t>& tokens) {
    Waiter* w = waiters.front();
    waiters.erase(waiters.begin());
    take(*w->owner, w->ttl, now, tokens);
    w->granted = true;
    w->acquired = Acquired{
        .written_at = std::chrono::system_clock::now(), .fencing_token = token, .waited = true};
    w->wake.notify_one();
  }
};

[[noreturn]] void not_owned(const std::string& key, std::string_view action) {
  throw LockNotOwnedError("cannot " + std::string(action) + " the lock on " + detail::quote(key) +
                          ": this owner does not hold it (never acquired, already released, or "
                          "expired and perhaps taken by another owner)");
}

}  // namespace

struct MemoryStore::Shard {
  explicit Shard(std::atomic<std::uint64_t>& counter) : tokens(counter) {}
  std::atomic<std::uint64_t>& tokens;  // the store's fencing counter
  std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;
  std::size_t sweep_at = kMinSweep;

  static constexpr std::size_t kMinSweep = 64;

  // Drops entries nobody holds or waits for, once the map has doubled since the last sweep:
  // amortised O(1) per insert, and memory stays within twice the live entries.
  void maybe_sweep(SteadyTime now) {
    if (entries.size() < sweep_at) return;
    for (auto it = entries.begin(); it != entries.end();) {
      Entry& e = it->second;
      if (!e.held(now) && !e.waiters.empty()) e.grant_front(now, tokens);
      if (!e.held(now) && e.waiters.empty()) {
        it = entries.erase(it);
      } else {
        ++it;
      }
    }
    sweep_at = std::max(kMinSweep, entries.size() * 2);
  }

  // After the lock of `it` stopped being held: next waiter, or reclaim the entry.
  void freed(std::unordered_map<std::string, Entry>::iterator it, SteadyTime now) {
    Entry& e = it->second;
    e.owner.clear();
    e.expires_at.reset();
    if (!e.waiters.empty()) {
      e.grant_front(now, tokens);
    } else {
      entries.erase(it);
    }
  }
};

MemoryStore::MemoryStore() : semaphore_shards_(make_semaphore_shards()) {
  shards_.reserve(kShards);
  for (std::size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>(tokens_));
}

MemoryStore::~MemoryStore() = default;

MemoryStore::Shard& MemoryStore::shard_for(const std::string& key) const {
  return *shards_[std::hash<std::string>{}(key) % kShards];
}

bool MemoryStore::save(const std::string& key, const std::string& owner,
                       std::optional<Duration> ttl) {
  return save_fenced(key, owner, ttl).has_value();
}

std::optional<std::uint64_t> MemoryStore::save_fenced(const std::string& key,
                                                      const std::string& owner,
                                                      std::optional<Duration> ttl) {
  validate_key(key);
  validate_ttl(ttl);
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    shard.maybe_sweep(now);
    Entry& e = shard.entries.try_emplace(key).first->second;
    e.take(owner, ttl, now, tokens_);
    return e.token;
  }
  Entry& e = it->second;
  if (e.held(now)) return std::nullopt;
  if (!e.waiters.empty()) {
    // Those already waiting go first; this caller did not wait.
    e.grant_front(now, tokens_);
    return std::nullopt;
  }
  e.take(owner, ttl, now, tokens_);
  return e.token;
}

std::optional<Acquired> MemoryStore::save_waiting(
    const std::string& key, const std::string& owner, std::optional<Duration> ttl,
    std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point waiting_since) {
  validate_key(key);
  validate_ttl(ttl);
  Shard& shard = shard_for(key);
  std::unique_lock lock(shard.mutex);
  auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    shard.maybe_sweep(now);
    const auto written = std::chrono::system_clock::now();
    Entry& e = shard.entries.try_emplace(key).first->second;
    e.take(owner, ttl, now, tokens_);
    return Acquired{.written_at = written, .fencing_token = e.token};
  }
  Entry& e = it->second;  // stays valid: an entry with waiters is never erased
  if (!e.held(now) && e.waiters.empty()) {
    const auto written = std::chrono::system_clock::now();
    e.take(owner, ttl, now, tokens_);
    return Acquired{.written_at = written, .fencing_token = e.token};
  }
  if (now >= until) return std::nullopt;

  Waiter self(owner, ttl, waiting_since);
  const auto position = std::upper_bound(
      e.waiters.begin(), e.waiters.end(), waiting_since,
      [](SteadyTime since, const Waiter* w) { return since < w->since; });
  e.waiters.insert(position, &self);

  for (;;) {
    if (!self.granted && !e.held(now)) e.grant_front(now, tokens_);  // expired: serve the queue
    if (self.granted) return self.acquired;
    if (now >= until) {
      e.waiters.erase(std::find(e.waiters.begin(), e.waiters.end(), &self));
      if (e.owner.empty() && e.waiters.empty()) shard.entries.erase(key);
      return std::nullopt;
    }
    auto wake_at = until;
    if (e.expires_at) wake_at = std::min(wake_at, *e.expires_at);
    self.wake.wait_until(lock, wake_at);
    now = SteadyClock::now();
  }
}

void MemoryStore::remove(const std::string& key, const std::string& owner) {
  validate_key(key);
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || !it->second.held(now) || it->second.owner != owner) {
    not_owned(key, "release");
  }
  shard.freed(it, now);
}

void MemoryStore::force_remove(const std::string& key) {
  validate_key(key);
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || it->second.owner.empty()) return;
  shard.freed(it, SteadyClock::now());
}

bool MemoryStore::exists(const std::string& key) {
  validate_key(key);
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  return it != shard.entries.end() && it->second.held(SteadyClock::now());
}

void MemoryStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  validate_key(key);
  validate_ttl(duration);
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto now = SteadyClock::now();
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || !it->second.held(now) || it->second.owner != owner) {
    not_owned(key, "extend");
  }
  it->second.expires_at = now + duration;
}

std::vector<HeldLock> MemoryStore::list_locks(std::string_view prefix, std::size_t limit) {
  std::vector<HeldLock> held;
  for (std::size_t i = 0; i < kShards; ++i) {
    const std::lock_guard lock(shards_[i]->mutex);
    const auto now = SteadyClock::now();
    for (const auto& [key, e] : shards_[i]->entries) {
      if (!e.held(now) || !key.starts_with(prefix)) continue;
      std::optional<Duration> remaining;
      if (e.expires_at) {
        remaining = std::chrono::duration_cast<Duration>(*e.expires_at - now);
      }
      held.push_back({.key = key, .owner = e.owner, .remaining = remaining, .fencing_token = e.token});
    }
  }
  std::sort(held.begin(), held.end(),
            [](const HeldLock& a, const HeldLock& b) { return a.key < b.key; });
  if (held.size() > limit) held.resize(limit);
  return held;
}

std::size_t MemoryStore::waiter_count(const std::string& key) const {
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  return it == shard.entries.end() ? 0 : it->second.waiters.size();
}

std::size_t MemoryStore::entry_count() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    const std::lock_guard lock(shards_[i]->mutex);
    total += shards_[i]->entries.size();
  }
  return total;
}

StoreFactory memory_store() {
  return StoreFactory{.driver = "memory", .create = [] { return std::make_shared<MemoryStore>(); }};
}

}  // namespace verrou
