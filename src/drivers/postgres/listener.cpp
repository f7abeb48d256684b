// SPDX-License-Identifier: Apache-2.0
#include "drivers/postgres/listener.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "drivers/postgres/waiters.hpp"
#include "verrou/drivers/database.hpp"

namespace verrou::detail::pg {
namespace {

// How long a key stays announced after its last waiter left: a lock waited for once is
// often waited for again at once (a queue of workers), and announcing costs a round trip.
constexpr Duration kLinger{200};
// Longest wait for the shared advisory lock: a release holds the exclusive one only until it
// commits, so a longer wait means an application's lock collides with ours; the waiter then
// polls rather than stall the listener.
constexpr const char* kSetup = "SET lock_timeout = 1000";
// Pauses between attempts to reopen the connection.
constexpr Duration kFirstBackoff{50};
constexpr Duration kLongestBackoff{2000};
// A key whose announcement the server refused is tried again after this.
constexpr Duration kRetryRefused{1000};

void ignore_notice(void*, const char*) {}

Duration next_backoff(Duration d) {
  return d == Duration::zero() ? kFirstBackoff : std::min(d * 2, kLongestBackoff);
}

}  // namespace

struct Listener::KeyState {
  std::size_t waiters = 0;
  bool announced = false;  // the shared advisory lock is held on the current connection
  bool failed = false;     // the last announcement failed: waiters poll until it succeeds
  bool wake_when_announced = false;  // releases may have gone unannounced: wake waiters then
  std::uint64_t wakeups = 0;
  steady::time_point linger_until{};
  steady::time_point retry_at{};
  std::condition_variable cv;
};

Listener::Listener(ListenerOptions options) : options_(std::move(options)) {
  const std::string channel = quote_sql_identifier(options_.channel);
  listen_sql_ = std::string(kSetup) + "; LISTEN " + channel;
  unlisten_sql_ = "UNLISTEN " + channel;
  const std::string args = waiter_lock_args(options_.lock_class, "$1::text");
  announce_sql_ = "SELECT pg_advisory_lock_shared(" + args + ")";
  withdraw_sql_ = "SELECT pg_advisory_unlock_shared(" + args + ")";
  std::array<int, 2> fds{-1, -1};
  if (::pipe(fds.data()) == 0) {
    for (int fd : fds) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    wake_read_ = fds[0];
    wake_write_ = fds[1];
  }
}

Listener::~Listener() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (conn_ != nullptr) PQfinish(conn_);
  if (wake_read_ >= 0) ::close(wake_read_);
  if (wake_write_ >= 0) ::close(wake_write_);
}

Listener::Watch::~Watch() {
  if (state_ == nullptr) return;
  {
    std::lock_guard lock(listener_->mutex_);
    if (--state_->waiters == 0) state_->linger_until = steady::now() + kLinger;
  }
  listener_->wake();
}

bool Listener::Watch::announced() const {
  std::lock_guard lock(listener_->mutex_);
  return state_->announced;
}

std::uint64_t Listener::Watch::wakeups() const {
  std::lock_guard lock(listener_->mutex_);
  return state_->wakeups;
}

bool Listener::Watch::wait(std::uint64_t seen, steady::time_point until) const {
  std::unique_lock lock(listener_->mutex_);
  state_->cv.wait_until(lock, until,
                        [&] { return state_->wakeups != seen || listener_->stop_; });
  return state_->wakeups != seen;
}

Listener::Watch Listener::watch(const std::string& key, steady::time_point until) {
  std::unique_lock lock(mutex_);
  if (!thread_.joinable() && wake_read_ >= 0) thread_ = std::thread([this] { run(); });
  auto& slot = keys_[key];
  if (!slot) {
    slot = std::make_unique<KeyState>();
    key_count_.store(keys_.size(), std::memory_order_release);
  }
  KeyState* state = slot.get();
  ++state->waiters;
  if (!state->announced && !state->failed) {
    lock.unlock();
    wake();
    lock.lock();
    // Not past the time an announcement can take: a connection to open, then a statement.
    const auto longest = steady::now() + options_.connect.connect_timeout() + options_.query_timeout;
    state->cv.wait_until(lock, std::min(until, longest),
                         [&] { return state->announced || state->failed || stop_; });
  }
  return Watch(this, state);
}

void Listener::released(const std::string& key) {
  if (key_count_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key);
  if (it != keys_.end() && it->second->waiters > 0) {
    ++it->second->wakeups;
    it->second->cv.notify_all();
  }
}

void Listener::wake() {
  if (wake_write_ < 0) return;
  const char byte = 1;
  // A full pipe already holds a wake-up.
  (void)!::write(wake_write_, &byte, 1);
}

void Listener::drain_wake_pipe() const {
  std::array<char, 64> buf{};
  while (::read(wake_read_, buf.data(), buf.size()) > 0) {
  }
}

bool Listener::stopping() {
  std::lock_guard lock(mutex_);
  return stop_;
}

void Listener::run() {
  for (;;) {
    std::vector<std::string> to_announce;
    std::vector<std::string> to_withdraw;
    bool idle = false;
    auto now = steady::now();
    auto next = now + std::chrono::seconds(60);
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      for (auto it = keys_.begin(); it != keys_.end();) {
        KeyState& k = *it->second;
        if (k.waiters > 0) {
          if (!k.announced) {
            if (!k.failed || now >= k.retry_at) {
              to_announce.push_back(it->first);
            } else {
              next = std::min(next, k.retry_at);
            }
          }
        } else if (now >= k.linger_until) {
          if (!k.announced) {
            it = keys_.erase(it);
            key_count_.store(keys_.size(), std::memory_order_release);
            continue;
          }
          // Marked withdrawn before the statement runs: a waiter arriving meanwhile waits
          // for the key to be announced again instead of trusting the old announcement.
          k.announced = false;
          to_withdraw.push_back(it->first);
        } else {
          next = std::min(next, k.linger_until);
        }
        ++it;
      }
      idle = keys_.empty();
    }

    if (!to_announce.empty()) {
      if (ensure_connected()) {
        for (const auto& key : to_announce) {
          if (!announce(key)) break;
        }
      } else {
        std::lock_guard lock(mutex_);
        for (const auto& key : to_announce) {
          auto it = keys_.find(key);
          if (it == keys_.end()) continue;
          it->second->failed = true;
          it->second->retry_at = reconnect_at_;
          it->second->wake_when_announced = true;
          it->second->cv.notify_all();
        }
      }
      if (stopping()) return;
    }
    for (const auto& key : to_withdraw) withdraw(key);
    if (idle && listening_ && conn_ != nullptr) {
      // Nobody waits: stop listening, so this connection receives nothing until needed.
      const Reply r = statement(unlisten_sql_.c_str(), nullptr);
      if (r.status == Reply::Status::ok) {
        listening_ = false;
      } else if (r.status != Reply::Status::failed) {
        lose_connection();
      }
    }

    // Sleep until there is something to do: a wake-up, a notification, a timer.
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      now = steady::now();
      for (const auto& [key, k] : keys_) {
        if (k->waiters > 0 && !k->announced) {
          next = std::min(next, k->failed ? k->retry_at : now);
        } else if (k->waiters == 0) {
          next = std::min(next, k->linger_until);
        }
      }
    }
    const int socket = conn_ != nullptr ? PQsocket(conn_) : -1;
    Ready ready = Ready::timeout;
    if (next > steady::now()) {
      ready = socket >= 0 ? wait_ready(socket, POLLIN, next, wake_read_)
                          : wait_ready(wake_read_, POLLIN, next);
      if (socket < 0 && ready == Ready::socket) ready = Ready::other;
    }
    if (ready == Ready::other) drain_wake_pipe();
    if (conn_ != nullptr && ready == Ready::socket) {
      if (PQconsumeInput(conn_) == 0) {
        lose_connection();
      } else {
        dispatch_notifications();
      }
    }
  }
}

bool Listener::ensure_connected() {
  if (conn_ == nullptr) {
    if (steady::now() < reconnect_at_) return false;
    if (!open_connection()) {
      backoff_ = next_backoff(backoff_);
      reconnect_at_ = steady::now() + backoff_;
      return false;
    }
  }
  if (!listening_) {
    const Reply r = statement(listen_sql_.c_str(), nullptr);
    if (r.status != Reply::Status::ok) {
      lose_connection();
      reconnect_at_ = steady::now() + kRetryRefused;
      return false;
    }
    listening_ = true;
  }
  return true;
}

bool Listener::open_connection() {
  PGconn* pg = options_.connect.start();
  if (pg == nullptr) return false;
  const auto deadline = steady::now() + options_.connect.connect_timeout();
  PostgresPollingStatusType state = PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED
                                                                     : PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
    const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    const Ready ready = wait_ready(PQsocket(pg), events, deadline, wake_read_);
    if (ready == Ready::timeout) break;
    if (ready == Ready::other) {
      drain_wake_pipe();
      if (stopping()) break;
      continue;
    }
    state = PQconnectPoll(pg);
  }
  if (state != PGRES_POLLING_OK || PQsetnonblocking(pg, 1) != 0) {
    PQfinish(pg);
    return false;
  }
  PQsetNoticeProcessor(pg, &ignore_notice, nullptr);
  conn_ = pg;
  listening_ = false;
  return true;
}

void Listener::lose_connection() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  listening_ = false;
  // The first loss is repaired at once (a failover, a restarted proxy); a connection that
  // keeps failing is reopened less and less often.
  reconnect_at_ = steady::now() + backoff_;
  backoff_ = next_backoff(backoff_);
  // The server let go of the session's advisory locks with it. Waiters carry on waiting (no
  // error for them: the connection is replaced), and are woken once announced again.
  std::lock_guard lock(mutex_);
  for (auto& [key, k] : keys_) {
    if (k->announced) {
      k->announced = false;
      k->wake_when_announced = true;
    }
  }
}

Reply Listener::statement(const char* sql, const std::string* key) {
  const auto deadline = steady::now() + options_.query_timeout;
  Reply r = run_statement(conn_, deadline, [&](PGconn* pg) {
    if (key == nullptr) return PQsendQuery(pg, sql);
    const char* value = key->c_str();
    return PQsendQueryParams(pg, sql, 1, nullptr, &value, nullptr, nullptr, 0);
  });
  dispatch_notifications();
  return r;
}

bool Listener::announce(const std::string& key) {
  const Reply r = statement(announce_sql_.c_str(), &key);
  {
    std::lock_guard lock(mutex_);
    auto it = keys_.find(key);
    if (r.status == Reply::Status::ok) backoff_ = Duration::zero();
    if (it != keys_.end()) {
      KeyState& k = *it->second;
      if (r.status == Reply::Status::ok) {
        k.announced = true;
        k.failed = false;
        if (k.wake_when_announced) {
          k.wake_when_announced = false;
          ++k.wakeups;
        }
      } else {
        k.failed = true;
        k.wake_when_announced = true;
        k.retry_at = steady::now() + kRetryRefused;
      }
      k.cv.notify_all();
    }
  }
  // Refused (lock_timeout): this key only, go on with the others.
  if (r.status == Reply::Status::ok || r.status == Reply::Status::failed) return true;
  lose_connection();  // the connection failed or stalled
  return false;
}

void Listener::withdraw(const std::string& key) {
  if (conn_ != nullptr) {
    const Reply r = statement(withdraw_sql_.c_str(), &key);
    if (r.status == Reply::Status::broken || r.status == Reply::Status::timed_out) {
      lose_connection();
    }
  }
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key);
  if (it != keys_.end() && it->second->waiters == 0 && !it->second->announced) {
    keys_.erase(it);
    key_count_.store(keys_.size(), std::memory_order_release);
  }
}

void Listener::dispatch_notifications() {
  if (conn_ == nullptr) return;
  std::lock_guard lock(mutex_);
  while (PGnotify* n = PQnotifies(conn_)) {
    auto it = keys_.find(n->extra);
    if (it != keys_.end()) {
      ++it->second->wakeups;
      it->second->cv.notify_all();
    }
    PQfreemem(n);
  }
}

}  // namespace verrou::detail::pg
