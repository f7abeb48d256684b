// SPDX-License-Identifier: Apache-2.0
// Reads the replies nobody waits for any more. A connection on which a caller timed out is
// handed here: its late replies are read and passed to their commands' LateReply until none
// is left, then it is closed; one that stays silent too long is given up, and the commands
// still in flight on it are lost.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "drivers/redis/connection.hpp"
#include "verrou/duration.hpp"

namespace verrou::detail::redis {

class Pipeline;

/// One per store; its thread starts with the first connection handed to it.
/// Thread safety: all members.
class Drainer {
 public:
  /// `patience`: how long a stalled connection may stay silent before it is given up.
  explicit Drainer(Duration patience);
  ~Drainer();  // gives up what is left at once
  Drainer(const Drainer&) = delete;
  Drainer& operator=(const Drainer&) = delete;

  /// Takes over reading `pipeline` (called under its lock; never calls back into it here).
  void adopt(std::shared_ptr<Pipeline> pipeline);

  /// Waits until every connection handed over has been drained or given up, giving up the
  /// rest at `deadline`. Connections handed over later are given up at once.
  void finish(Deadline deadline);

 private:
  void loop();
  void wake() const;

  const Duration patience_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Pipeline>> adopted_;  // guarded by mutex_
  bool exiting_ = false;                            // guarded by mutex_
  Deadline give_up_all_at_ = Deadline::max();      // guarded by mutex_
  std::condition_variable emptied_;
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace verrou::detail::redis
