// SPDX-License-Identifier: Apache-2.0
// The Redis store's own client: hiredis's RESP parser and command formatter over sockets the
// store opens itself, so TCP, Unix sockets and TLS (OpenSSL) share one code path, plus a
// connection pool per server and Redis Cluster slot routing.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "detail/export.hpp"
#include "verrou/drivers/redis.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct redisReader;

namespace verrou::detail::redis {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// One RESP reply, copied out of hiredis's reply objects.
struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;                // string, status or error text
  long long integer = 0;
  std::vector<Reply> elements;    // array

  [[nodiscard]] bool is_error() const { return type == Type::kError; }
  [[nodiscard]] bool error_starts_with(std::string_view prefix) const {
    return type == Type::kError && std::string_view(str).substr(0, prefix.size()) == prefix;
  }
  // For messages: `(error) WRONGTYPE …`, `(integer) 1`, `"text"`…
  [[nodiscard]] std::string describe() const;
};

// Failure of a connection (the connection cannot be used any more): what happened, for
// LockStorageError messages.
struct IoError {
  std::string message;
};

// Shared TLS settings: one SSL_CTX per store. Thread safety: immutable after construction.
class TlsContext {
 public:
  explicit TlsContext(const RedisConnection& options);  // throws InvalidArgumentError
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  [[nodiscard]] ssl_ctx_st* get() const { return ctx_; }
  [[nodiscard]] bool verify() const { return verify_; }
  [[nodiscard]] const std::string& server_name() const { return server_name_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
  bool verify_ = true;
  std::string server_name_;
};

// Where and how to connect. `label` names the server in messages ("127.0.0.1:6379").
struct Target {
  std::string host;
  std::uint16_t port = 0;
  std::string unix_socket;
  std::string label;
};

// One connection to one server. Thread safety: none; a connection is used by one thread
// at a time (the pool hands it out).
class Connection {
 public:
  Connection(const Target& target, const RedisConnection& options, const TlsContext* tls);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, handshakes, AUTHs and SELECTs. Throws IoError (also for an AUTH refused).
  void open(Deadline deadline);

  // Sends the commands (pipelined) and reads one reply per command. Throws IoError; the
  // connection is then broken.
  std::vector<Reply> run(const std::vector<std::vector<std::string>>& commands, Deadline deadline);
  Reply run(const std::vector<std::string>& command, Deadline deadline);

  // For the subscriber: queue bytes of commands without waiting for replies.
  void send(const std::vector<std::string>& command, Deadline deadline);
  // Reads and returns the replies already complete, waiting up to `deadline` for the first.
  // Returns empty at the deadline. Throws IoError.
  std::vector<Reply> read_some(Deadline deadline, int wake_fd = -1);

  // False once an I/O error happened, or when the server has closed the connection while
  // it sat idle (checked without blocking).
  bool healthy();
  [[nodiscard]] bool broken() const { return broken_; }
  [[nodiscard]] const Target& target() const { return target_; }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  void connect_socket(Deadline deadline);
  void handshake_tls(Deadline deadline);
  void write_all(const char* data, std::size_t size, Deadline deadline);
  std::optional<Reply> next_reply();
  // Reads what is available into the parser; waits up to `deadline` when nothing is.
  // Returns false at the deadline (or when `wake_fd` became readable).
  bool fill(Deadline deadline, int wake_fd);
  void wait_io(bool for_write, Deadline deadline, const char* what);
  [[noreturn]] void fail(const std::string& message);

  Target target_;
  const RedisConnection& options_;
  const TlsContext* tls_;
  int fd_ = -1;
  ssl_st* ssl_ = nullptr;
  redisReader* reader_ = nullptr;
  bool broken_ = false;
};

// The connections to one server, shared by threads: at most `pool_size` open at once; a
// thread finding them all busy waits for one (up to the connect timeout).
// Thread safety: all members.
class Pool {
 public:
  // A connection on loan; goes back to the pool (or is closed, if it failed) when destroyed.
  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (connection_) pool_->give_back(std::move(connection_));
    }
    Connection* operator->() const { return connection_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  Pool(Target target, const RedisConnection& options, const TlsContext* tls)
      : target_(std::move(target)), options_(options), tls_(tls) {}

  // A healthy idle connection, or a new one (opened within the connect timeout).
  // Throws IoError.
  Lease take();
  [[nodiscard]] const Target& target() const { return target_; }

 private:
  void give_back(std::unique_ptr<Connection> connection);

  Target target_;
  const RedisConnection& options_;
  const TlsContext* tls_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + on loan + being opened
};

// The hash slot of a key (CRC16/XMODEM of the key or of its {hash tag}, mod 16384).
VERROU_INTERNAL_EXPORT std::uint16_t key_slot(std::string_view key);

// Runs commands for the store: on the one server, or on the cluster node owning the key's
// slot, following MOVED/ASK and retrying TRYAGAIN/CLUSTERDOWN until the deadline.
// Thread safety: all members.
class Client {
 public:
  explicit Client(const RedisConnection& options);  // throws InvalidArgumentError
  ~Client();

  // Runs `command` for `key` (routing only; the command names its keys itself). Returns the
  // reply, which may be an error reply other than a redirection. Throws LockStorageError
  // naming the server and `operation` when no reply could be had.
  Reply run(std::string_view key, const std::vector<std::string>& command,
            std::string_view operation);

  // Runs `command` on every master (standalone: the server). Throws as `run`.
  std::vector<Reply> run_everywhere(const std::vector<std::string>& command,
                                    std::string_view operation);

  // The server a subscriber should use: the standalone server, or a cluster node (another
  // one for each `attempt`).
  Target subscriber_target(std::size_t attempt);

  [[nodiscard]] const RedisConnection& options() const { return options_; }
  [[nodiscard]] const TlsContext* tls() const { return tls_.get(); }
  [[nodiscard]] std::string describe() const { return options_.describe(); }

 private:
  struct SlotMap;
  std::shared_ptr<Pool> pool_for(const Target& target);
  std::shared_ptr<Pool> route(std::uint16_t slot, Deadline deadline);
  void refresh_slots(Deadline deadline);
  // Re-reads the slot map after a MOVED when it is more than a second old, unless another
  // thread is already at it.
  void refresh_slots_soon(Deadline deadline);
  Target target_from(const std::string& host, std::uint16_t port) const;

  RedisConnection options_;
  std::unique_ptr<TlsContext> tls_;
  std::mutex pools_mutex_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;  // by label
  std::shared_ptr<Pool> standalone_;
  // Cluster: which pool serves each slot (null: unknown). Replaced wholesale on refresh.
  std::shared_mutex slots_mutex_;
  std::shared_ptr<const std::vector<std::shared_ptr<Pool>>> slots_;
  std::mutex refresh_mutex_;
  Clock::time_point last_refresh_{};
};

// Throws LockStorageError: "redis <server>: <operation> failed: <detail>".
[[noreturn]] void storage_failure(std::string_view server, std::string_view operation,
                                  std::string_view detail);

}  // namespace verrou::detail::redis
