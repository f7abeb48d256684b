// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/subscriber.hpp"

#include <openssl/crypto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "drivers/redis/router.hpp"

namespace verrou::detail::redis {

struct Subscriber::Channel {
  int waiters = 0;
  std::uint64_t messages = 0;  // bumped on each announcement (and on reconnects)
  std::uint64_t refusals = 0;  // bumped when the server refuses to subscribe
  bool subscribed = false;     // as of the replies read so far
  std::deque<bool> in_flight;  // SUBSCRIBE (true) / UNSUBSCRIBE (false) sent, not yet confirmed
  Clock::time_point idle_since;
  Clock::time_point refused_until;
  std::condition_variable changed;

  [[nodiscard]] bool wanted(Clock::time_point now) const {
    return waiters > 0 || now - idle_since < kLinger;
  }
  [[nodiscard]] bool will_be_subscribed() const {
    return in_flight.empty() ? subscribed : in_flight.back();
  }
};

Subscriber::Watch::Watch(Subscriber& owner, const std::string& channel)
    : owner_(owner), channel_(owner.join(channel)) {}

Subscriber::Watch::~Watch() { owner_.leave(*channel_); }

std::uint64_t Subscriber::Watch::messages() {
  std::lock_guard lock(owner_.mutex_);
  return channel_->messages;
}

bool Subscriber::Watch::wait_subscribed(Clock::time_point deadline) {
  std::unique_lock lock(owner_.mutex_);
  const std::uint64_t refusals = channel_->refusals;
  channel_->changed.wait_until(lock, deadline, [&] {
    return (channel_->subscribed && channel_->in_flight.empty()) || channel_->refusals != refusals;
  });
  return channel_->subscribed && channel_->in_flight.empty();
}

bool Subscriber::Watch::wait_message(std::uint64_t seen, Clock::time_point deadline) {
  std::unique_lock lock(owner_.mutex_);
  return channel_->changed.wait_until(lock, deadline, [&] { return channel_->messages != seen; });
}

Subscriber::Subscriber(Router& router) : router_(router) {}

Subscriber::~Subscriber() { stop(); }

void Subscriber::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

bool Subscriber::subscribed(const std::string& channel) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(channel);
  return it != channels_.end() && it->second->subscribed;
}

std::shared_ptr<Subscriber::Channel> Subscriber::join(const std::string& name) {
  bool changed = false;
  std::shared_ptr<Channel> channel;
  {
    std::lock_guard lock(mutex_);
    auto& slot = channels_[name];
    if (!slot) slot = std::make_shared<Channel>();
    channel = slot;
    channel->waiters++;
    changed = !channel->will_be_subscribed();
    if (!started_ && !stopping_) {
      started_ = true;
      wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      thread_ = std::thread([this] { loop(); });
    }
  }
  if (changed) wake();
  return channel;
}

void Subscriber::leave(Channel& channel) {
  std::lock_guard lock(mutex_);
  channel.waiters--;
  channel.idle_since = Clock::now();
}

void Subscriber::wake() {
  if (wake_fd_ < 0) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Subscriber::drain_wake() {
  std::uint64_t value = 0;
  [[maybe_unused]] auto n = ::read(wake_fd_, &value, sizeof value);
}

bool Subscriber::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void Subscriber::on_disconnect() {
  std::lock_guard lock(mutex_);
  sent_.clear();
  for (auto& [name, channel] : channels_) {
    channel->subscribed = false;
    channel->in_flight.clear();
    channel->messages++;  // waiters try again (and fall back to their deadlines)
    channel->changed.notify_all();
  }
}

std::vector<std::vector<std::string>> Subscriber::plan() {
  std::vector<std::string> subscribe{"SUBSCRIBE"};
  std::vector<std::string> unsubscribe{"UNSUBSCRIBE"};
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (auto it = channels_.begin(); it != channels_.end();) {
    Channel& c = *it->second;
    const bool wanted = c.wanted(now) && now >= c.refused_until;
    if (wanted != c.will_be_subscribed()) {
      c.in_flight.push_back(wanted);
      (wanted ? subscribe : unsubscribe).push_back(it->first);
    }
    if (!c.wanted(now) && c.waiters == 0 && !c.subscribed && c.in_flight.empty()) {
      it = channels_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::vector<std::string>> commands;
  for (auto* command : {&subscribe, &unsubscribe}) {
    if (command->size() < 2) continue;
    sent_.push_back(Sent{command == &subscribe, {command->begin() + 1, command->end()}});
    commands.push_back(std::move(*command));
  }
  return commands;
}

void Subscriber::handle(const Reply& reply) {
  std::lock_guard lock(mutex_);
  if (reply.is_error()) {
    // A SUBSCRIBE refused as a whole (NOPERM: no rights on a channel). Its channels are asked
    // for again later; their waiters stop waiting for the subscription and poll meanwhile.
    if (sent_.empty()) return;
    Sent refused = std::move(sent_.front());
    sent_.pop_front();
    for (const auto& name : refused.unconfirmed) {
      auto it = channels_.find(name);
      if (it == channels_.end()) continue;
      Channel& c = *it->second;
      if (!c.in_flight.empty()) c.in_flight.pop_front();
      if (refused.subscribe) {
        c.refused_until = Clock::now() + kRetryRefused;
        c.refusals++;
      }
      c.changed.notify_all();
    }
    return;
  }
  if (reply.type != Reply::Type::kArray || reply.elements.size() < 2) return;
  const std::string& kind = reply.elements[0].str;
  const std::string& name = reply.elements[1].str;
  const bool confirmation = kind == "subscribe" || kind == "unsubscribe";
  if (confirmation && !sent_.empty()) {
    auto& front = sent_.front().unconfirmed;
    if (auto at = std::find(front.begin(), front.end(), name); at != front.end()) front.erase(at);
    if (front.empty()) sent_.pop_front();
  }
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  Channel& c = *it->second;
  if (kind == "message") {
    c.messages++;
  } else if (confirmation) {
    if (!c.in_flight.empty()) c.in_flight.pop_front();
    c.subscribed = kind == "subscribe";
  } else {
    return;
  }
  c.changed.notify_all();
}

void Subscriber::loop() {
  const RedisConnection& options = router_.settings().connection;
  std::unique_ptr<Connection> connection;
  std::size_t attempt = 0;
  Clock::time_point connected_at;
  Clock::time_point last_heard;
  std::optional<Clock::time_point> ping_sent;
  auto pause = [&](std::chrono::milliseconds how_long) {
    pollfd p{wake_fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(how_long.count()));
    drain_wake();
  };
  while (!stopping()) {
    if (!connection) {
      try {
        connection = std::make_unique<Connection>(router_.any_server(attempt), options,
                                                  router_.settings().tls.get());
        connection->open(Clock::now() + options.connect_timeout);
        connected_at = last_heard = Clock::now();
        ping_sent.reset();
        attempt = 0;
      } catch (...) {
        // Waiters fall back to their own deadlines meanwhile; try again shortly.
        connection.reset();
        attempt++;
        pause(std::chrono::milliseconds(std::min<long>(1000, 50L << std::min<std::size_t>(attempt, 5))));
        continue;
      }
    }
    try {
      const auto now = Clock::now();
      std::string out;
      for (const auto& command : plan()) append_command(out, command);
      if (!ping_sent && now - last_heard > kPingAfter) {
        append_command(out, {"PING"});
        ping_sent = now;
      }
      if (!out.empty()) {
        std::size_t written = 0;
        connection->send_all(out, now + options.command_timeout, written);
      }
      if (ping_sent && now - *ping_sent > options.command_timeout) {
        throw IoError{"no answer to PING"};
      }
      const auto ready = connection->wait_readable(now + std::chrono::milliseconds(250), wake_fd_);
      drain_wake();
      if (ready == Connection::Ready::kReadable) {
        connection->receive();
        while (auto reply = connection->next_reply()) {
          handle(*reply);
          last_heard = Clock::now();
          ping_sent.reset();
        }
      }
    } catch (...) {
      // Lost connection (or anything else): start over; waiters retry meanwhile. A server
      // that drops connections at once (maxclients) is not hammered in a tight loop.
      connection.reset();
      on_disconnect();
      if (Clock::now() - connected_at < std::chrono::seconds(1)) pause(std::chrono::milliseconds(100));
    }
  }
  connection.reset();
  OPENSSL_thread_stop();  // this thread's TLS state, which OpenSSL keeps per thread
}

}  // namespace verrou::detail::redis
