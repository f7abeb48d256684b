// SPDX-License-Identifier: Apache-2.0
// Release announcements for waiting threads: one pub/sub connection per store, on its own
// thread, subscribed to the channels of the keys threads wait for.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "drivers/redis/connection.hpp"

namespace verrou::detail::redis {

class Router;

/// Waiting threads of one store share one subscriber connection, kept by one thread: it
/// subscribes to the channels waiters need, wakes them when a release is announced, and keeps
/// a channel subscribed for a while after its last waiter left, so a hand-off between two
/// threads does not pay a SUBSCRIBE each time. It PINGs the server when nothing came for a
/// few seconds, so a connection that died silently is replaced instead of leaving waiters to
/// their polling; a channel the server refuses (no ACL rights on it) is asked for again later.
/// Thread safety: all members.
class Subscriber {
 public:
  static constexpr auto kLinger = std::chrono::seconds(2);         // subscribed after last waiter
  static constexpr auto kPingAfter = std::chrono::seconds(5);      // of silence
  static constexpr auto kRetryRefused = std::chrono::seconds(5);   // a refused SUBSCRIBE

  struct Channel;

  /// One waiting thread's registration on one channel.
  class Watch {
   public:
    Watch(Subscriber& owner, const std::string& channel);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    /// The announcement count, to compare after an attempt.
    std::uint64_t messages();
    /// Waits until subscribed (no release is missed after this returns true), until the
    /// server refused the channel, or until `deadline`. True when subscribed.
    bool wait_subscribed(Clock::time_point deadline);
    /// Waits until an announcement after `seen`, or `deadline`. True when one came.
    bool wait_message(std::uint64_t seen, Clock::time_point deadline);

   private:
    Subscriber& owner_;
    std::shared_ptr<Channel> channel_;
  };

  explicit Subscriber(Router& router);
  ~Subscriber();  // stop()
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// Whether `channel` is subscribed now (someone waited on it lately: the key is contended).
  bool subscribed(const std::string& channel);
  /// Ends the thread and closes the connection.
  void stop();

 private:
  // A SUBSCRIBE or UNSUBSCRIBE sent, and the channels it still has to confirm.
  struct Sent {
    bool subscribe = true;
    std::deque<std::string> unconfirmed;
  };

  std::shared_ptr<Channel> join(const std::string& name);
  void leave(Channel& channel);
  void wake();
  void drain_wake();
  void on_disconnect();
  std::vector<std::vector<std::string>> plan();
  void handle(const Reply& reply);
  void loop();
  bool stopping();

  Router& router_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Channel>> channels_;  // guarded
  std::deque<Sent> sent_;                                               // guarded
  bool started_ = false;                                                // guarded
  bool stopping_ = false;                                               // guarded
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace verrou::detail::redis
