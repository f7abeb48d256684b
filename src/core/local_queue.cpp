// SPDX-License-Identifier: Apache-2.0
#include "detail/local_queue.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace verrou::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Place {
  SteadyClock::time_point since;
  std::uint64_t id;
};

struct QueueKey {
  const LockStore* store;
  QueueKind kind;
  std::string key;
  bool operator==(const QueueKey&) const = default;
};

struct QueueKeyHash {
  std::size_t operator()(const QueueKey& k) const noexcept {
    return std::hash<std::string>{}(k.key) ^ (std::hash<const void*>{}(k.store) * 31U) ^
           static_cast<std::size_t>(k.kind);
  }
};

struct Shard;

}  // namespace

struct KeyQueue {
  Shard* shard = nullptr;
  QueueKey name;
  std::condition_variable changed;  // front left, or a release
  std::vector<Place> places;        // earliest `since` first
  std::uint64_t releases = 0;
};

namespace {

struct Shard {
  std::mutex mutex;
  std::unordered_map<QueueKey, std::shared_ptr<KeyQueue>, QueueKeyHash> queues;
  std::uint64_t next_id = 0;
};

constexpr std::size_t kShards = 64;

Shard& shard_for(const QueueKey& key) {
  static std::array<Shard, kShards> shards;
  return shards[QueueKeyHash{}(key) % kShards];
}

template <class Predicate>
bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                SteadyClock::time_point deadline, Predicate done) {
  if (deadline == SteadyClock::time_point::max()) {
    cv.wait(lock, done);
    return true;
  }
  return cv.wait_until(lock, deadline, done);
}

}  // namespace

QueueTicket::QueueTicket(const LockStore* store, QueueKind kind, const std::string& key,
                         SteadyClock::time_point since) {
  QueueKey name{store, kind, key};
  Shard& shard = shard_for(name);
  const std::lock_guard lock(shard.mutex);
  auto& queue = shard.queues[name];
  if (!queue) {
    queue = std::make_shared<KeyQueue>();
    queue->shard = &shard;
    queue->name = std::move(name);
  }
  queue_ = queue;
  id_ = shard.next_id++;
  const auto position =
      std::upper_bound(queue->places.begin(), queue->places.end(), since,
                       [](SteadyClock::time_point s, const Place& p) { return s < p.since; });
  queue->places.insert(position, Place{since, id_});
}

QueueTicket::~QueueTicket() {
  Shard& shard = *queue_->shard;
  const std::lock_guard lock(shard.mutex);
  auto& places = queue_->places;
  places.erase(std::find_if(places.begin(), places.end(),
                            [&](const Place& p) { return p.id == id_; }));
  if (places.empty()) {
    shard.queues.erase(queue_->name);
  } else {
    queue_->changed.notify_all();
  }
}

bool QueueTicket::wait_front(SteadyClock::time_point deadline) {
  std::unique_lock lock(queue_->shard->mutex);
  return wait_until(queue_->changed, lock, deadline,
                    [&] { return queue_->places.front().id == id_; });
}

std::uint64_t QueueTicket::releases() const {
  const std::lock_guard lock(queue_->shard->mutex);
  return queue_->releases;
}

void QueueTicket::wait_release(std::uint64_t seen, SteadyClock::time_point until) {
  std::unique_lock lock(queue_->shard->mutex);
  wait_until(queue_->changed, lock, until, [&] { return queue_->releases != seen; });
}

bool local_waiters(const LockStore* store, QueueKind kind, const std::string& key) {
  QueueKey name{store, kind, key};
  Shard& shard = shard_for(name);
  const std::lock_guard lock(shard.mutex);
  return shard.queues.contains(name);
}

void local_release(const LockStore* store, QueueKind kind, const std::string& key) {
  QueueKey name{store, kind, key};
  Shard& shard = shard_for(name);
  const std::lock_guard lock(shard.mutex);
  auto it = shard.queues.find(name);
  if (it == shard.queues.end()) return;
  it->second->releases++;
  it->second->changed.notify_all();
}

}  // namespace verrou::detail
