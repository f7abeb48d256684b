// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/router.hpp"

#include <algorithm>
#include <optional>
#include <thread>

#include "drivers/redis/redis_errors.hpp"

namespace verrou::detail::redis {

namespace {

struct Redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string host;
  std::uint16_t port = 0;
};

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 [::1]:6381"; the host may be empty (same host).
std::optional<Redirect> parse_redirect(const Reply& reply) {
  const bool moved = reply.error_starts_with("MOVED ");
  const bool ask = reply.error_starts_with("ASK ");
  if (!moved && !ask) return std::nullopt;
  std::string_view text = reply.str;
  text.remove_prefix(moved ? 6 : 4);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view address = text.substr(space + 1);
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Redirect r;
  r.ask = ask;
  r.host = std::string(address.substr(0, colon));
  if (r.host.size() >= 2 && r.host.front() == '[' && r.host.back() == ']') {
    r.host = r.host.substr(1, r.host.size() - 2);
  }
  try {
    r.slot = static_cast<std::uint16_t>(std::stoul(std::string(text.substr(0, space))) % kSlotCount);
    const auto port = std::stoul(std::string(address.substr(colon + 1)));
    if (port == 0 || port > 65535) return std::nullopt;
    r.port = static_cast<std::uint16_t>(port);
  } catch (...) {
    return std::nullopt;
  }
  return r;
}

}  // namespace

Router::Router(std::shared_ptr<const Settings> settings, Drainer& drainer)
    : settings_(std::move(settings)) {
  const RedisConnection& c = settings_->connection;
  if (c.cluster) {
    cluster_ = std::make_unique<ClusterMap>(settings_, drainer);
    return;
  }
  Target t;
  if (!c.unix_socket.empty()) {
    t.unix_socket = c.unix_socket;
    t.label = "unix:" + c.unix_socket;
  } else {
    t = tcp_target(c.endpoints.front().host, c.endpoints.front().port);
  }
  standalone_ = std::make_shared<Multiplexer>(std::move(t), settings_, drainer);
}

void Router::pause(std::chrono::milliseconds how_long, Deadline deadline) const {
  auto until = std::min(deadline, Clock::now() + how_long);
  std::this_thread::sleep_until(until);
}

Reply Router::run(std::string_view key, std::initializer_list<std::string_view> command,
                  std::string_view operation, const RunOptions& options) {
  Commands commands;
  commands.add(command);
  return std::move(run(key, commands, operation, options).front());
}

std::vector<Reply> Router::run(std::string_view key, const Commands& commands,
                               std::string_view operation, const RunOptions& options) {
  const RedisConnection& c = settings_->connection;
  // Retries stop here; a command sent still gets its whole command timeout for its reply.
  const Deadline deadline = Clock::now() + c.connect_timeout + c.command_timeout;
  const std::uint16_t slot = cluster_ ? key_slot(key) : 0;
  std::shared_ptr<Multiplexer> node = cluster_ ? cluster_->node_for(slot, deadline) : standalone_;
  bool asking = false;
  std::string last_problem;
  auto backoff = std::chrono::milliseconds(10);
  int moves = 0;
  for (int hops = 0;; ++hops) {
    if (hops > 0 && (Clock::now() >= deadline || hops > 1000)) {
      storage_failure(node->target().label, operation,
                      "gave up within connect + command timeout: " + last_problem);
    }
    auto request = std::make_shared<Request>();
    if (asking) append_command(request->payload, {"ASKING"});
    request->payload += commands.payload;
    request->expected = commands.count + (asking ? 1 : 0);
    request->late = options.late;
    try {
      node->execute(request, options.reply_timeout.value_or(c.command_timeout));
    } catch (const IoError& e) {
      if (e.sent) reply_lost(node->target().label, operation, e.message);
      // Certainly not run: no connection could be had. In a cluster that may be a failover
      // under way: read the map again and try the slot's master, within the deadline.
      if (!cluster_ || Clock::now() >= deadline) storage_failure(node->target().label, operation, e.message);
      last_problem = e.message;
      pause(std::chrono::milliseconds(50), deadline);
      try {
        cluster_->refresh(deadline);
        node = cluster_->node_for(slot, deadline);
      } catch (const LockStorageError&) {
        storage_failure(node->target().label, operation, e.message);
      }
      asking = false;
      continue;
    }
    std::vector<Reply> replies = std::move(request->replies);
    if (asking) replies.erase(replies.begin());
    const Reply& reply = replies.front();
    if (!reply.is_error()) return replies;
    const std::string_view code = reply.error_code();
    if (cluster_) {
      if (auto redirect = parse_redirect(reply)) {
        last_problem = reply.str;
        auto target_node = cluster_->node_at(
            tcp_target(redirect->host.empty() ? node->target().host : redirect->host, redirect->port));
        asking = redirect->ask;
        if (!redirect->ask) {
          cluster_->moved(redirect->slot, target_node, deadline);
          // Nodes sending each other back and forth are in the middle of a slot move (not
          // all told yet): give them a moment instead of spinning.
          if (++moves > 1) {
            pause(backoff, deadline);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
          }
        }
        node = target_node;
        continue;
      }
      if (code == "TRYAGAIN") {  // a multi-key command during a migration
        if (options.return_tryagain) return replies;
        last_problem = reply.str;
        pause(std::chrono::milliseconds(20), deadline);
        continue;
      }
    }
    // The command did not run on this server: it is read-only (a demoted master), loading
    // its data (restarting), or a replica cut from its master, or the cluster is down.
    if (code == "READONLY" || code == "LOADING" || code == "MASTERDOWN" || code == "CLUSTERDOWN") {
      last_problem = reply.str;
      if (code == "READONLY") node->retire_all();
      pause(std::max(backoff, std::chrono::milliseconds(20)), deadline);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
      if (cluster_) {
        try {
          cluster_->refresh(deadline);
          node = cluster_->node_for(slot, deadline);
        } catch (const LockStorageError&) {
          // keep trying the node known until the deadline
        }
        asking = false;
      }
      continue;
    }
    return replies;
  }
}

std::vector<Reply> Router::run_on_every_master(std::initializer_list<std::string_view> command,
                                               std::string_view operation) {
  const Deadline deadline = Clock::now() + settings_->connection.command_timeout;
  std::vector<std::shared_ptr<Multiplexer>> nodes;
  if (cluster_) {
    cluster_->refresh(deadline);
    nodes = cluster_->masters(deadline);
  } else {
    nodes.push_back(standalone_);
  }
  std::vector<Reply> replies;
  for (const auto& node : nodes) {
    auto request = std::make_shared<Request>();
    append_command(request->payload, command);
    try {
      node->execute(request, settings_->connection.command_timeout);
    } catch (const IoError& e) {
      storage_failure(node->target().label, operation, e.message);
    }
    replies.push_back(std::move(request->replies.front()));
  }
  return replies;
}

void Router::on_every_master(std::string_view operation,
                             const std::function<void(const NodeRunner&)>& visit) {
  const RedisConnection& c = settings_->connection;
  std::vector<std::shared_ptr<Multiplexer>> nodes;
  if (cluster_) {
    const Deadline deadline = Clock::now() + c.command_timeout;
    cluster_->refresh(deadline);
    nodes = cluster_->masters(deadline);
  } else {
    nodes.push_back(standalone_);
  }
  for (const auto& node : nodes) {
    visit([&](const Commands& commands) {
      auto request = std::make_shared<Request>();
      request->payload = commands.payload;
      request->expected = commands.count;
      try {
        node->execute(request, c.command_timeout);
      } catch (const IoError& e) {
        storage_failure(node->target().label, operation, e.message);
      }
      return std::move(request->replies);
    });
  }
}

Target Router::any_server(std::size_t attempt) {
  if (!cluster_) return standalone_->target();
  // Any node will do (PUBLISH reaches every node of a cluster); rotating through them keeps
  // a node that is down from keeping the subscriber away.
  auto targets = cluster_->known_targets();
  return targets[attempt % targets.size()];
}

}  // namespace verrou::detail::redis
