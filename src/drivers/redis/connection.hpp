// SPDX-License-Identifier: Apache-2.0
// One connection to one Redis server over the store's own socket (TCP or a Unix socket, with
// TLS when asked): opening it (connect, handshake, AUTH, SELECT), sending and receiving
// without blocking, and waiting for readiness with a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/redis/reply.hpp"
#include "drivers/redis/tls.hpp"
#include "verrou/drivers/redis.hpp"

struct ssl_st;

namespace verrou::detail::redis {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// Where to connect. `label` names the server in messages ("127.0.0.1:6379").
struct Target {
  std::string host;
  std::uint16_t port = 0;
  std::string unix_socket;
  std::string label;
};

/// A target for `host:port` (IPv6 literals labelled in brackets).
Target tcp_target(const std::string& host, std::uint16_t port);

/// What every connection of one store shares: the options and the TLS context.
struct Settings {
  RedisConnection connection;
  std::unique_ptr<TlsContext> tls;  ///< null without TLS
};

/// One connection. Opened once; unusable after any IoError.
///
/// Thread safety: `send_all` and `receive`/`next_reply` may run at the same time in two
/// threads (one sender, one receiver); `wake_all` from any thread; the rest from one thread
/// at a time.
class Connection {
 public:
  Connection(Target target, const RedisConnection& options, const TlsContext* tls);
  ~Connection();  // closes with a reset: bytes still queued in this host are dropped
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects, handshakes, AUTHs and SELECTs, all before `deadline`. Throws IoError (with
  /// `sent` false: nothing of the store's commands went out), also for a refused AUTH.
  void open(Deadline deadline);

  /// Sends all of `data`, waiting for room in the socket up to `deadline`. `written` counts
  /// the bytes handed to the kernel, also when it throws IoError.
  void send_all(std::string_view data, Deadline deadline, std::size_t& written);

  /// Reads what has arrived into the reply parser. False when nothing had (the caller waits
  /// with `wait_readable`). Throws IoError when the connection closed or failed.
  bool receive();
  /// The next complete reply received. Throws IoError for a malformed one.
  std::optional<Reply> next_reply();

  enum class Ready { kReadable, kWoken, kTimedOut };
  /// Waits until bytes can be read (or `wake_fd` becomes readable) or `deadline` passes.
  Ready wait_readable(Deadline deadline, int wake_fd = -1);

  /// Whether bytes (or the end of the connection) are waiting to be read, without waiting.
  bool readable_now();

  /// Sends `commands` and reads one reply for each, before `deadline`. For setup and
  /// one-off use on a connection nobody else uses. Throws IoError.
  std::vector<Reply> round_trip(const std::vector<std::vector<std::string>>& commands,
                                Deadline deadline);

  /// Makes threads waiting on this connection return (their next I/O fails). Any thread.
  void wake_all() noexcept;

  [[nodiscard]] const Target& target() const { return target_; }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  void connect_socket(Deadline deadline);
  void handshake_tls(Deadline deadline);
  void wait_io(bool for_write, Deadline deadline, const char* what);
  [[noreturn]] void fail(const std::string& message, bool sent = true);

  Target target_;
  const RedisConnection& options_;
  const TlsContext* tls_;
  int fd_ = -1;
  ssl_st* ssl_ = nullptr;
  // OpenSSL sessions may not be used by two threads at once; plain sockets need no lock.
  std::mutex tls_mutex_;
  ReplyReader reader_;
};

}  // namespace verrou::detail::redis
