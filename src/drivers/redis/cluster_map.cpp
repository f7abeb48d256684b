// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/cluster_map.hpp"

#include <algorithm>

#include "drivers/redis/redis_errors.hpp"

namespace verrou::detail::redis {

ClusterMap::ClusterMap(std::shared_ptr<const Settings> settings, Drainer& drainer)
    : settings_(std::move(settings)), drainer_(drainer) {}

std::shared_ptr<const ClusterMap::Layout> ClusterMap::layout() {
  std::lock_guard lock(nodes_mutex_);
  return layout_;
}

std::shared_ptr<Multiplexer> ClusterMap::node_locked(const Target& target) {
  auto& node = nodes_[target.label];
  if (!node) node = std::make_shared<Multiplexer>(target, settings_, drainer_);
  return node;
}

std::shared_ptr<Multiplexer> ClusterMap::node_at(const Target& target) {
  std::lock_guard lock(nodes_mutex_);
  return node_locked(target);
}

std::shared_ptr<Multiplexer> ClusterMap::node_for(std::uint16_t slot, Deadline deadline) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto map = layout(); map && map->slot_node[slot] != kNone) {
      return map->nodes[map->slot_node[slot]];
    }
    refresh(deadline);
  }
  storage_failure(settings_->connection.describe(), "routing",
                  "no cluster node serves hash slot " + std::to_string(slot) +
                      " (is the cluster complete? check CLUSTER INFO)");
}

std::vector<std::shared_ptr<Multiplexer>> ClusterMap::masters(Deadline deadline) {
  auto map = layout();
  if (!map) {
    refresh(deadline);
    map = layout();
  }
  return map->nodes;
}

std::vector<Target> ClusterMap::known_targets() {
  std::vector<Target> targets;
  if (auto map = layout()) {
    for (const auto& node : map->nodes) targets.push_back(node->target());
  }
  for (const auto& e : settings_->connection.endpoints) {
    auto seed = tcp_target(e.host, e.port);
    if (std::none_of(targets.begin(), targets.end(),
                     [&](const Target& t) { return t.label == seed.label; })) {
      targets.push_back(seed);
    }
  }
  return targets;
}

void ClusterMap::refresh(Deadline deadline) {
  std::unique_lock lock(refresh_mutex_);
  const auto asked_at = Clock::now();
  while (refreshing_) {
    if (refreshed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      storage_failure(settings_->connection.describe(), "CLUSTER SLOTS (reading the cluster's slot map)",
                      "timed out waiting for the slot map");
    }
  }
  if (last_refresh_ > asked_at) return;  // read meanwhile by another thread
  refreshing_ = true;
  lock.unlock();
  try {
    read_map(deadline);
  } catch (...) {
    lock.lock();
    refreshing_ = false;
    refreshed_.notify_all();
    throw;
  }
  lock.lock();
  refreshing_ = false;
  last_refresh_ = Clock::now();
  refreshed_.notify_all();
}

void ClusterMap::moved(std::uint16_t slot, const std::shared_ptr<Multiplexer>& node,
                       Deadline deadline) {
  {
    std::lock_guard lock(nodes_mutex_);
    if (layout_) {
      auto patched = std::make_shared<Layout>(*layout_);
      auto at = std::find(patched->nodes.begin(), patched->nodes.end(), node);
      if (at == patched->nodes.end()) at = patched->nodes.insert(patched->nodes.end(), node);
      patched->slot_node[slot] = static_cast<std::uint16_t>(at - patched->nodes.begin());
      layout_ = std::move(patched);
    }
  }
  {
    std::lock_guard lock(refresh_mutex_);
    if (refreshing_ || Clock::now() - last_refresh_ < std::chrono::seconds(1)) return;
  }
  try {
    refresh(deadline);
  } catch (const LockStorageError&) {
    // The patched entry serves meanwhile; the next MOVED tries again.
  }
}

void ClusterMap::read_map(Deadline deadline) {
  // Ask the masters known, then the seeds, until one answers within the deadline.
  std::vector<Target> candidates = known_targets();
  const std::size_t known = std::min(candidates.size(), layout() ? layout()->nodes.size() : 0);
  if (candidates.size() > known) {
    const std::size_t seeds = candidates.size() - known;
    std::rotate(candidates.begin() + static_cast<std::ptrdiff_t>(known),
                candidates.begin() + static_cast<std::ptrdiff_t>(known + first_seed_.load() % seeds),
                candidates.end());
  }
  std::string last_error = "no node to ask";
  std::string last_label = settings_->connection.describe();
  for (const auto& candidate : candidates) {
    if (Clock::now() >= deadline) break;
    auto node = node_at(candidate);
    auto request = std::make_shared<Request>();
    append_command(request->payload, {"CLUSTER", "SLOTS"});
    try {
      const auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
      node->execute(request, std::clamp(left, Duration(1), settings_->connection.command_timeout),
                    deadline);
    } catch (const IoError& e) {
      last_error = e.message;
      last_label = candidate.label;
      first_seed_++;
      continue;
    }
    const Reply& reply = request->replies.front();
    if (reply.type != Reply::Type::kArray) {
      last_error = "CLUSTER SLOTS answered " + reply.describe() +
                   (reply.error_starts_with("ERR This instance has cluster support disabled")
                        ? " (this is not a cluster: use redis:// instead of redis+cluster://)"
                        : "");
      last_label = candidate.label;
      continue;
    }
    auto fresh = std::make_shared<Layout>();
    fresh->slot_node.fill(kNone);
    std::map<std::string, std::shared_ptr<Multiplexer>> members;
    {
      std::lock_guard lock(nodes_mutex_);
      for (const auto& range : reply.elements) {
        if (range.type != Reply::Type::kArray || range.elements.size() < 3) continue;
        const Reply& master = range.elements[2];
        if (range.elements[0].type != Reply::Type::kInteger ||
            range.elements[1].type != Reply::Type::kInteger || master.type != Reply::Type::kArray ||
            master.elements.size() < 2 || master.elements[1].type != Reply::Type::kInteger) {
          continue;
        }
        std::string host = master.elements[0].str;
        if (host.empty() || host == "?") host = candidate.host;  // "same host as the one asked"
        auto target = tcp_target(host, static_cast<std::uint16_t>(master.elements[1].integer));
        auto member = node_locked(target);
        members[target.label] = member;
        auto at = std::find(fresh->nodes.begin(), fresh->nodes.end(), member);
        if (at == fresh->nodes.end()) at = fresh->nodes.insert(fresh->nodes.end(), member);
        const auto index = static_cast<std::uint16_t>(at - fresh->nodes.begin());
        auto first = std::clamp<long long>(range.elements[0].integer, 0, kSlotCount - 1);
        auto last = std::clamp<long long>(range.elements[1].integer, 0, kSlotCount - 1);
        for (auto s = first; s <= last; ++s) fresh->slot_node[static_cast<std::size_t>(s)] = index;
      }
      // Nodes that left the map are forgotten; a seed is made again when it is asked.
      nodes_ = std::move(members);
      layout_ = std::move(fresh);
    }
    return;
  }
  storage_failure(last_label, "CLUSTER SLOTS (reading the cluster's slot map)", last_error);
}

}  // namespace verrou::detail::redis
