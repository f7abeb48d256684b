// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store's listener: one connection per store that LISTENs for releases and
// announces the keys this process waits for (waiters.hpp), read by a thread of its own.
//
// Every waiting `acquire` of the store shares it, so waiting keys cost no connection each:
// a store opens at most `pool_size` statement connections plus this one. The thread reads
// the connection all the time it is open, so it never holds back the server's notification
// queue, and it stops listening once no key has been waited for a moment. A connection that
// fails is replaced in the background, without troubling the waiters: their keys are
// announced again on the new connection, then they are woken to look at their locks again
// (a release in between sent them nothing).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "drivers/postgres/connection.hpp"

namespace verrou::detail::pg {

struct ListenerOptions {
  ConnectSettings connect;
  Duration query_timeout{10000};
  std::string channel;         ///< the notification channel, unquoted
  std::int32_t lock_class = 0; ///< waiter_lock_class of the table
};

/// Thread safety: every member may be called from any thread.
class Listener {
  struct KeyState;

 public:
  explicit Listener(ListenerOptions options);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// One waiter's registration for a key, from `watch` until destroyed.
  class Watch {
   public:
    Watch(Watch&& other) noexcept : listener_(other.listener_), state_(other.state_) {
      other.state_ = nullptr;
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    Watch& operator=(Watch&&) = delete;
    ~Watch();

    /// Whether the key is announced now: a release of it will wake this waiter. When not
    /// (the server cannot be reached, or refused the announcement), the waiter must poll.
    [[nodiscard]] bool announced() const;
    /// How many times the key's waiters were woken so far. Read it before looking at the
    /// lock, then `wait` for it to change: a wake-up in between is not missed.
    [[nodiscard]] std::uint64_t wakeups() const;
    /// Waits until the count of wake-ups differs from `seen`, or `until`. True when woken.
    bool wait(std::uint64_t seen, steady::time_point until) const;

   private:
    friend class Listener;
    Watch(Listener* listener, KeyState* state) : listener_(listener), state_(state) {}
    Listener* listener_;
    KeyState* state_;
  };

  /// Registers a waiter for `key` and waits (at most until `until`) for the key to be
  /// announced. The caller must look at the lock only after this returns.
  Watch watch(const std::string& key, steady::time_point until);

  /// Wakes this store's waiters of `key` at once: the store itself just released it, and
  /// they need not wait for the server's notification.
  void released(const std::string& key);

 private:
  void run();
  void wake();
  void drain_wake_pipe() const;
  bool stopping();
  bool ensure_connected();
  bool open_connection();
  void lose_connection();
  bool announce(const std::string& key);
  void withdraw(const std::string& key);
  void dispatch_notifications();
  Reply statement(const char* sql, const std::string* key);

  ListenerOptions options_;
  std::string listen_sql_;
  std::string unlisten_sql_;
  std::string announce_sql_;
  std::string withdraw_sql_;

  std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<KeyState>> keys_;
  // keys_.size(), readable without the mutex: a release when nothing waits (the common
  // case) then costs no lock shared by every thread of the store.
  std::atomic<std::size_t> key_count_{0};
  bool stop_ = false;
  std::thread thread_;
  int wake_read_ = -1;
  int wake_write_ = -1;

  // Used by the thread alone.
  PGconn* conn_ = nullptr;
  bool listening_ = false;
  steady::time_point reconnect_at_{};
  Duration backoff_{0};
};

}  // namespace verrou::detail::pg
