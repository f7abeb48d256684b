// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the Redis store's reply path — RESP parsing (hiredis's reader inside the
// store's own client), the conversion into the client's replies, and the store's reading of
// them — against a hostile server. A fake server on a Unix socket answers the store's first
// connection with the fuzz input as its whole byte stream and then goes away; the store runs
// one of each operation. Every operation must return or throw a verrou::Error (storage error
// for a bad or missing reply, not-owned for a refusal): no crash, no hang, no other exception.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "verrou/drivers/redis.hpp"
#include "verrou/errors.hpp"

namespace {

std::string socket_path() {
  static const std::string path = "/tmp/verrou-fuzz-redis-" + std::to_string(::getpid()) + ".sock";
  return path;
}

int listen_once() {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) std::abort();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket_path();
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0) {
    std::perror("fuzz_redis_reply: bind/listen");
    std::abort();
  }
  return fd;
}

// Accepts one connection, sends `bytes`, stops sending, and reads until the client closes.
// The listener is closed right after the accept, so reconnections are refused at once.
void serve(int listener, std::string bytes) {
  const int fd = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  if (fd < 0) return;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char sink[4096];
  while (::recv(fd, sink, sizeof sink, 0) > 0) {
  }
  ::close(fd);
}

template <class F>
void attempt(F&& f) {
  try {
    f();
  } catch (const verrou::Error&) {
    // LockStorageError (bad reply, connection closed), LockNotOwnedError: both fine.
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;  // more than the socket buffers hold at once
  const int listener = listen_once();
  std::thread server(serve, listener, std::string(reinterpret_cast<const char*>(data), size));
  {
    verrou::RedisConnection connection = verrou::RedisConnection::from_url(
        "redis+unix://" + socket_path() +
        "?connect_timeout=200ms&command_timeout=200ms&pool_size=1");
    verrou::RedisStore store({.connection = connection, .key_prefix = {}});
    const std::string key = "fuzz";
    const std::string owner = "0123456789abcdef0123456789abcdef";
    attempt([&] { (void)store.save(key, owner, verrou::Duration(30000)); });
    attempt([&] { (void)store.save(key, owner, std::nullopt); });
    attempt([&] { (void)store.exists(key); });
    attempt([&] { store.extend(key, owner, verrou::Duration(1000)); });
    attempt([&] { store.remove(key, owner); });
    attempt([&] { store.force_remove(key); });
    attempt([&] { store.ping(); });
  }
  server.join();
  return 0;
}
