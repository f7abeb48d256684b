// SPDX-License-Identifier: Apache-2.0
// A TCP proxy in front of a server, for fault tests: passes what clients send at once, and on
// demand holds the server's replies back, drops a connection when its next reply comes (the
// command ran, its reply is lost), or turns the connections open now into a black hole
// (nothing passes, nothing closes) while new connections work.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace verrou::redis_test {

class FaultProxy {
 public:
  explicit FaultProxy(std::uint16_t upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Replies reach the client this long after the server sent them (0: at once).
  void delay_replies(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }
  /// The next reply from the server is not passed on: its connection is closed instead.
  void cut_at_next_reply() { cut_next_ = true; }
  /// The connections open now pass nothing either way from now on, and stay open.
  void black_hole_open_connections();
  /// Connections accepted so far.
  [[nodiscard]] int connections() const { return accepted_.load(); }

 private:
  struct Pair {
    int client = -1;
    int server = -1;
    bool holed = false;
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> to_client;
  };
  void loop();

  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::uint16_t upstream_;
  std::atomic<long long> delay_ms_{0};
  std::atomic<bool> cut_next_{false};
  std::atomic<bool> hole_request_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace verrou::redis_test
