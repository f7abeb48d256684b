// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/multiplexer.hpp"

#include <algorithm>

namespace verrou::detail::redis {

namespace {
const std::string& ping_payload() {
  static const std::string payload = [] {
    std::string out;
    append_command(out, {"PING"});
    return out;
  }();
  return payload;
}
}  // namespace

Multiplexer::Multiplexer(Target target, std::shared_ptr<const Settings> settings, Drainer& drainer)
    : target_(std::move(target)), settings_(std::move(settings)), drainer_(drainer) {}

void Multiplexer::execute(const std::shared_ptr<Request>& request, Duration reply_timeout,
                          Deadline connect_by) {
  // Finding a connection (opening one, PINGing an idle one) is bounded by the connect
  // timeout; the reply, by `reply_timeout` from when the request goes out.
  const Deadline connected_by =
      std::min(connect_by, Clock::now() + settings_->connection.connect_timeout);
  for (std::size_t attempt = 0;; ++attempt) {
    auto pipeline = choose(connected_by);
    if (pipeline->needs_check(Clock::now(), kIdleCheck) && !check(pipeline)) {
      if (Clock::now() >= connected_by || attempt > settings_->connection.pool_size) {
        throw IoError{"no working connection (a PING before use found them dead)", false};
      }
      continue;
    }
    try {
      pipeline->execute(request, Clock::now() + reply_timeout);
      return;
    } catch (const IoError& e) {
      if (e.sent) {
        suspect_all();
        throw;
      }
      // Certainly not sent (the connection failed or stopped taking commands first): another
      // connection can take it.
      if (Clock::now() >= connected_by || attempt > settings_->connection.pool_size) throw;
      request->reset();
    }
  }
}

bool Multiplexer::check(const std::shared_ptr<Pipeline>& pipeline) {
  auto ping = std::make_shared<Request>();
  ping->payload = ping_payload();
  try {
    pipeline->execute(ping, Clock::now() + std::min<Clock::duration>(
                                               kCheckTimeout, settings_->connection.command_timeout));
  } catch (const IoError&) {
    pipeline->retire();
    suspect_all();
    return false;
  }
  pipeline->mark_checked();
  return true;
}

std::shared_ptr<Pipeline> Multiplexer::choose(Deadline deadline) {
  const std::size_t most = std::max<std::size_t>(1, settings_->connection.pool_size);
  std::unique_lock lock(mutex_);
  for (;;) {
    std::erase_if(pipelines_, [](const auto& p) { return !p->open_for_requests(); });
    std::shared_ptr<Pipeline> best;
    for (const auto& p : pipelines_) {
      if (!best || p->load() < best->load()) best = p;
    }
    const bool room = pipelines_.size() + opening_ < most;
    if (best && (best->load() == 0 || !room)) return best;
    if (room) {
      ++opening_;
      lock.unlock();
      auto fresh = std::make_shared<Pipeline>(target_, settings_, drainer_);
      try {
        fresh->open(std::min(deadline, Clock::now() + settings_->connection.connect_timeout));
      } catch (const IoError&) {
        lock.lock();
        --opening_;
        opened_.notify_all();
        if (best && best->open_for_requests()) return best;
        throw;
      }
      lock.lock();
      --opening_;
      pipelines_.push_back(fresh);
      opened_.notify_all();
      return fresh;
    }
    // Every connection is being opened by other threads: wait for one.
    if (opened_.wait_until(lock, deadline) == std::cv_status::timeout) {
      throw IoError{"timed out waiting for a connection to open", false};
    }
  }
}

void Multiplexer::retire_all() {
  std::lock_guard lock(mutex_);
  for (const auto& p : pipelines_) p->retire();
  pipelines_.clear();
}

void Multiplexer::suspect_all() {
  std::lock_guard lock(mutex_);
  for (const auto& p : pipelines_) p->mark_suspect();
}

}  // namespace verrou::detail::redis
