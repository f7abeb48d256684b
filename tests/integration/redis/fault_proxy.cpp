// SPDX-License-Identifier: Apache-2.0
#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace verrou::redis_test {

namespace {
void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}
}  // namespace

FaultProxy::FaultProxy(std::uint16_t upstream_port) : upstream_(upstream_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0 || ::pipe(wake_) != 0) {
    throw std::runtime_error("FaultProxy: cannot listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { loop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  [[maybe_unused]] auto n = ::write(wake_[1], "x", 1);
  thread_.join();
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void FaultProxy::black_hole_open_connections() {
  hole_request_ = true;
  [[maybe_unused]] auto n = ::write(wake_[1], "x", 1);
  while (hole_request_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void FaultProxy::loop() {
  using Clock = std::chrono::steady_clock;
  std::vector<Pair> pairs;
  char buffer[65536];
  auto close_pair = [](Pair& p) {
    ::close(p.client);
    ::close(p.server);
    p.client = p.server = -1;
  };
  while (!stop_) {
    if (hole_request_) {
      for (auto& p : pairs) p.holed = true;
      hole_request_ = false;
    }
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
    auto now = Clock::now();
    int timeout = 50;
    for (auto& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
      if (!p.to_client.empty()) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(p.to_client.front().first - now).count();
        timeout = std::clamp<int>(static_cast<int>(wait), 0, timeout);
      }
    }
    ::poll(fds.data(), fds.size(), timeout);
    if ((fds[0].revents & POLLIN) != 0) [[maybe_unused]] auto n = ::read(wake_[0], buffer, sizeof buffer);
    if ((fds[1].revents & POLLIN) != 0) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(upstream_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
          int one = 1;
          ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          pairs.push_back(Pair{client, server, false, {}});
          accepted_++;
        } else {
          ::close(server);
          ::close(client);
        }
      }
    }
    now = Clock::now();
    for (std::size_t i = 0; i < pairs.size() && 2 + 2 * i + 1 < fds.size(); ++i) {
      Pair& p = pairs[i];
      const short client_events = fds[2 + 2 * i].revents;
      const short server_events = fds[2 + 2 * i + 1].revents;
      if (client_events != 0) {
        ssize_t n = ::recv(p.client, buffer, sizeof buffer, 0);
        if (n <= 0) {
          close_pair(p);
          continue;
        }
        if (!p.holed) write_all(p.server, buffer, static_cast<std::size_t>(n));
      }
      if (server_events != 0) {
        ssize_t n = ::recv(p.server, buffer, sizeof buffer, 0);
        if (n <= 0) {
          close_pair(p);
          continue;
        }
        if (p.holed) continue;
        if (cut_next_.exchange(false)) {
          close_pair(p);
          continue;
        }
        p.to_client.emplace_back(now + std::chrono::milliseconds(delay_ms_.load()),
                                 std::string(buffer, static_cast<std::size_t>(n)));
      }
      while (p.client >= 0 && !p.to_client.empty() && p.to_client.front().first <= now) {
        write_all(p.client, p.to_client.front().second.data(), p.to_client.front().second.size());
        p.to_client.pop_front();
      }
    }
    std::erase_if(pairs, [](const Pair& p) { return p.client < 0; });
  }
  for (auto& p : pairs) close_pair(p);
}

}  // namespace verrou::redis_test
