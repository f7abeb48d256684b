// SPDX-License-Identifier: Apache-2.0
// The connections of one store to one server: a few pipelined connections shared by every
// thread (in place of a pool of connections lent to one thread at a time).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "drivers/redis/pipeline.hpp"
#include "verrou/duration.hpp"

namespace verrou::detail::redis {

class Drainer;

/// Runs commands on one server over at most `pool_size` pipelined connections: a command goes
/// to the connection with the fewest commands in flight, and a new connection is opened only
/// when every open one is busy. A connection idle for more than a few seconds (or suspected
/// after another one failed) is PINGed before a command goes out on it, so a connection a
/// NAT or a restart killed silently costs a retry, not a command of unknown outcome.
/// Thread safety: all members.
class Multiplexer {
 public:
  /// Idle time after which a connection is PINGed before use.
  static constexpr auto kIdleCheck = std::chrono::seconds(5);
  /// Longest wait for that PING's answer (a live server answers at once).
  static constexpr auto kCheckTimeout = std::chrono::milliseconds(500);

  Multiplexer(Target target, std::shared_ptr<const Settings> settings, Drainer& drainer);
  Multiplexer(const Multiplexer&) = delete;
  Multiplexer& operator=(const Multiplexer&) = delete;

  /// Runs `request` (see Pipeline::execute), waiting up to `reply_timeout` for its reply once
  /// it is sent; a connection that turns out dead before the request went out is replaced
  /// and the request sent on another. Finding a connection gives up after the connect
  /// timeout, or at `connect_by` if sooner. Throws IoError.
  void execute(const std::shared_ptr<Request>& request, Duration reply_timeout,
               Deadline connect_by = Deadline::max());

  /// New commands go to new connections; those in flight finish on the old ones (the server
  /// turned read-only: a demoted master).
  void retire_all();

  [[nodiscard]] const Target& target() const { return target_; }

 private:
  std::shared_ptr<Pipeline> choose(Deadline deadline);
  bool check(const std::shared_ptr<Pipeline>& pipeline);
  void suspect_all();

  const Target target_;
  const std::shared_ptr<const Settings> settings_;
  Drainer& drainer_;
  std::mutex mutex_;
  std::condition_variable opened_;
  std::vector<std::shared_ptr<Pipeline>> pipelines_;  // guarded by mutex_
  std::size_t opening_ = 0;                           // guarded by mutex_
};

}  // namespace verrou::detail::redis
