// SPDX-License-Identifier: Apache-2.0
// Redis Cluster's slot map: which master serves each hash slot, read with CLUSTER SLOTS, and
// one Multiplexer per master.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/redis/hash_slot.hpp"
#include "drivers/redis/multiplexer.hpp"

namespace verrou::detail::redis {

/// The slot map of one store. Reading the map happens outside any lock and within the
/// caller's deadline; one thread reads it while the others that need it wait (up to their
/// own deadlines). Masters that leave the map are forgotten (their connections close when
/// the last command on them ends). Thread safety: all members.
class ClusterMap {
 public:
  ClusterMap(std::shared_ptr<const Settings> settings, Drainer& drainer);

  /// The master serving `slot`, reading the map first if it is not known.
  /// Throws LockStorageError.
  std::shared_ptr<Multiplexer> node_for(std::uint16_t slot, Deadline deadline);
  /// The node at `target` (from a redirection), known or new.
  std::shared_ptr<Multiplexer> node_at(const Target& target);
  /// Every master of the map (read first if not known). Throws LockStorageError.
  std::vector<std::shared_ptr<Multiplexer>> masters(Deadline deadline);
  /// The masters known and the seeds, for a connection that any node can serve.
  std::vector<Target> known_targets();

  /// Reads the map again, or waits for the thread already reading it. Throws
  /// LockStorageError when no node answered before `deadline`.
  void refresh(Deadline deadline);
  /// After a MOVED: `slot` is served by `node` from now on, and the whole map is read again
  /// unless it was read less than a second ago (failures are ignored: the patch serves).
  void moved(std::uint16_t slot, const std::shared_ptr<Multiplexer>& node, Deadline deadline);

 private:
  struct Layout {
    std::vector<std::shared_ptr<Multiplexer>> nodes;
    std::array<std::uint16_t, kSlotCount> slot_node{};  // index into nodes, or kNone
  };
  static constexpr std::uint16_t kNone = 0xFFFF;

  std::shared_ptr<const Layout> layout();
  void read_map(Deadline deadline);
  std::shared_ptr<Multiplexer> node_locked(const Target& target);

  const std::shared_ptr<const Settings> settings_;
  Drainer& drainer_;

  std::mutex nodes_mutex_;
  std::map<std::string, std::shared_ptr<Multiplexer>> nodes_;  // by label; guarded
  std::shared_ptr<const Layout> layout_;                       // guarded by nodes_mutex_

  // Where the next reading of the map starts among the seeds: past the ones that failed last
  // time, so seeds that never answer do not use up every caller's deadline.
  std::atomic<std::size_t> first_seed_{0};

  std::mutex refresh_mutex_;
  std::condition_variable refreshed_;
  bool refreshing_ = false;            // guarded by refresh_mutex_
  Clock::time_point last_refresh_{};   // guarded by refresh_mutex_
};

}  // namespace verrou::detail::redis
