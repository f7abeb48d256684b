// SPDX-License-Identifier: Apache-2.0
// Sends the store's commands to the right server: the one server, or the cluster master
// serving the key's slot; follows redirections and retries what certainly did not run.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/redis/cluster_map.hpp"
#include "drivers/redis/multiplexer.hpp"

namespace verrou::detail::redis {

/// How `Router::run` treats one call.
struct RunOptions {
  /// Receives the outcome if the reply is lost (see LateReply); may be null.
  std::shared_ptr<LateReply> late{};
  /// Return TRYAGAIN (a command of several keys refused while their slot moves between
  /// nodes) instead of retrying it, for a caller that has a one-key way to do the same.
  bool return_tryagain = false;
  /// How long to wait for the reply; default: the command timeout. Settling a lost reply
  /// waits longer, since it runs where replies were already slow.
  std::optional<Duration> reply_timeout{};
};

/// Routes and runs commands for one store. Thread safety: all members.
class Router {
 public:
  Router(std::shared_ptr<const Settings> settings, Drainer& drainer);

  /// Runs `commands` back to back on the server of `key` (the commands name their keys
  /// themselves; `key` only routes) and returns one reply per command.
  ///
  /// Replies to the first command meaning "not run here" are handled within connect +
  /// command timeout: MOVED and ASK are followed (ASKING goes right before the commands),
  /// TRYAGAIN and CLUSTERDOWN retried, READONLY (a demoted master: its connections are
  /// retired), LOADING and MASTERDOWN retried after a pause, the cluster map re-read. A
  /// connection lost before sending is replaced. Other error replies are returned.
  ///
  /// Throws LockStorageError naming the server and `operation` when the commands did not
  /// run, and ReplyLostError when they were sent but no reply came; `options.late` then
  /// receives the outcome.
  std::vector<Reply> run(std::string_view key, const Commands& commands,
                         std::string_view operation, const RunOptions& options = {});
  /// One command; see above.
  Reply run(std::string_view key, std::initializer_list<std::string_view> command,
            std::string_view operation, const RunOptions& options = {});

  /// Runs `command` on every master (standalone: the server). Throws as `run`.
  std::vector<Reply> run_on_every_master(std::initializer_list<std::string_view> command,
                                         std::string_view operation);

  /// Runs `commands` back to back on one node, returning one reply per command.
  using NodeRunner = std::function<std::vector<Reply>(const Commands& commands)>;
  /// Calls `visit` once per master (standalone: once, for the server) with a runner of commands
  /// on that master alone, for what walks every node (SCAN). No redirection is followed.
  /// Throws LockStorageError naming the node and `operation` when a node cannot be reached.
  void on_every_master(std::string_view operation, const std::function<void(const NodeRunner&)>& visit);

  /// A server for a connection any node can serve (the subscriber): the standalone server,
  /// or a cluster node, another for each `attempt`.
  Target any_server(std::size_t attempt);

  [[nodiscard]] const Settings& settings() const { return *settings_; }
  [[nodiscard]] std::string describe() const { return settings_->connection.describe(); }

 private:
  void pause(std::chrono::milliseconds how_long, Deadline deadline) const;

  const std::shared_ptr<const Settings> settings_;
  std::shared_ptr<Multiplexer> standalone_;  // null for a cluster
  std::unique_ptr<ClusterMap> cluster_;      // null for standalone
};

}  // namespace verrou::detail::redis
