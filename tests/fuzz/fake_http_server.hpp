// SPDX-License-Identifier: Apache-2.0
// A fake HTTP server for the fuzz targets of HTTP stores: on a loopback port, it answers the
// requests it receives one by one with the replies it was given (one connection each, closed
// after the reply), then refuses connections. Each input chunk's first byte chooses the HTTP
// status; the rest is the body.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace verrou_fuzz {

// `input` cut at each "\xff\xff", at most 16 chunks.
inline std::vector<std::string> split_chunks(std::string_view input) {
  std::vector<std::string> chunks;
  for (;;) {
    const auto at = input.find("\xff\xff");
    chunks.emplace_back(input.substr(0, at));
    if (at == std::string_view::npos || chunks.size() >= 16) break;
    input.remove_prefix(at + 2);
  }
  return chunks;
}

inline std::string http_response(const std::string& chunk) {
  static constexpr int kStatus[] = {200, 400, 500, 200, 401, 404, 503, 200};
  const int status = chunk.empty() ? 200 : kStatus[static_cast<unsigned char>(chunk[0]) % 8];
  const std::string body = chunk.empty() ? std::string() : chunk.substr(1);
  return "HTTP/1.1 " + std::to_string(status) +
         " Fuzz\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Reads one HTTP request (headers, then Content-Length bytes), giving up after a second.
inline void read_request(int fd) {
  std::string data;
  char buffer[4096];
  std::size_t need = std::string::npos;
  while (data.size() < need) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    data.append(buffer, static_cast<std::size_t>(n));
    if (need == std::string::npos) {
      const auto end = data.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      std::size_t length = 0;
      const auto header = data.find("Content-Length: ");
      if (header != std::string::npos && header < end) {
        length = std::strtoul(data.c_str() + header + 16, nullptr, 10);
      }
      need = end + 4 + length;
    }
  }
}

struct FakeHttpServer {
  int listener = -1;
  std::uint16_t port = 0;
  std::atomic<bool> done{false};
  std::thread thread;

  explicit FakeHttpServer(std::vector<std::string> chunks) {
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), size) != 0 ||
        ::listen(listener, 8) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
      std::abort();
    }
    port = ntohs(addr.sin_port);
    thread = std::thread([this, chunks = std::move(chunks)] {
      for (const auto& chunk : chunks) {
        const int fd = ::accept(listener, nullptr, nullptr);
        if (fd < 0 || done) {
          if (fd >= 0) ::close(fd);
          break;
        }
        read_request(fd);
        const std::string reply = http_response(chunk);
        (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        ::close(fd);
      }
      ::close(listener);  // from now on, connections are refused at once
    });
  }

  ~FakeHttpServer() {
    done = true;
    // Wake an accept still waiting: connect once (refused if the listener is gone).
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    thread.join();
    ::close(fd);
  }
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;
};

}  // namespace verrou_fuzz
