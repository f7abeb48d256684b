// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the DynamoDB store's reply path — the HTTP bodies it parses as JSON and reads
// (table status, items, expiry numbers, error types) — against a hostile endpoint. The first
// byte of the input chooses whether the store checks (and creates) its table first (even) or
// not (odd). A fake server on a loopback port answers the store's requests one by one from the
// rest: chunks separated by "\xff\xff", each chunk's first byte choosing the HTTP status (200,
// 400, 500) and the rest being the body; once the chunks run out, connections are refused. The
// store runs one of each operation. Every call must return or throw
// a verrou::Error: no crash, no hang, no other exception.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "verrou/drivers/dynamodb.hpp"
#include "verrou/errors.hpp"

namespace {

std::vector<std::string> split_chunks(std::string_view input) {
  std::vector<std::string> chunks;
  for (;;) {
    const auto at = input.find("\xff\xff");
    chunks.emplace_back(input.substr(0, at));
    if (at == std::string_view::npos || chunks.size() >= 16) break;
    input.remove_prefix(at + 2);
  }
  return chunks;
}

std::string response(const std::string& chunk) {
  static constexpr int kStatus[] = {200, 400, 500, 200};
  const int status = chunk.empty() ? 200 : kStatus[static_cast<unsigned char>(chunk[0]) % 4];
  const std::string body = chunk.empty() ? std::string() : chunk.substr(1);
  return "HTTP/1.1 " + std::to_string(status) +
         " Fuzz\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Reads one HTTP request (headers, then Content-Length bytes), giving up after a second.
void read_request(int fd) {
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

struct FakeServer {
  int listener = -1;
  std::uint16_t port = 0;
  std::atomic<bool> done{false};
  std::thread thread;

  explicit FakeServer(std::vector<std::string> chunks) {
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
        const std::string reply = response(chunk);
        (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        ::close(fd);
      }
      ::close(listener);  // from now on, connections are refused at once
    });
  }

  ~FakeServer() {
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
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;
};

template <class F>
void attempt(F&& f) {
  try {
    f();
  } catch (const verrou::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);
  ::setenv("AWS_ACCESS_KEY_ID", "fuzz", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "fuzz-secret", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 16384) return 0;
  const bool create_table = data[0] % 2 == 0;
  FakeServer server(
      split_chunks(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)));
  const std::string url =
      "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:" + std::to_string(server.port) +
      "&table=fuzz&create_table=" + (create_table ? "1" : "0") +
      "&connect_timeout=200ms"
      "&request_timeout=500ms&retry_deadline=0ms";
  try {
    verrou::DynamoDbStore store(verrou::DynamoDbStoreOptions::from_url(url));
    const std::string key = "fuzz";
    const std::string owner = "0123456789abcdef0123456789abcdef";
    attempt([&] { (void)store.save(key, owner, verrou::Duration(30000)); });
    attempt([&] { (void)store.exists(key); });
    attempt([&] { store.extend(key, owner, verrou::Duration(1000)); });
    attempt([&] { store.remove(key, owner); });
    attempt([&] { store.force_remove(key); });
    attempt([&] { (void)store.save(key, owner, std::nullopt); });
    attempt([&] { (void)store.exists(key); });
    attempt([&] { (void)store.save_fenced(key, owner, verrou::Duration(30000)); });
    attempt([&] { (void)store.save_permit(key, owner, 3, verrou::Duration(30000)); });
    attempt([&] { (void)store.count_permits(key); });
    attempt([&] { store.extend_permit(key, owner, verrou::Duration(1000)); });
    attempt([&] { store.remove_permit(key, owner); });
  } catch (const verrou::Error&) {
    // the table check at construction failed: fine
  }
  return 0;
}
