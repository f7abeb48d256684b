// SPDX-License-Identifier: Apache-2.0
// A small pool of database connections shared by the SQL adapters.
//
// Each operation borrows one connection for one statement, so threads working at once use
// different connections instead of queueing on one mutex. A connection that failed is
// discarded (closed) rather than returned, and the next borrower opens a fresh one: this is
// how a store recovers by itself once a server that went away is back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "verrou/errors.hpp"

namespace verrou::detail {

template <class Conn>
class ConnectionPool {
 public:
  using Connect = std::function<std::unique_ptr<Conn>()>;
  // True when an idle connection can still be used; false closes it and opens another.
  using Healthy = std::function<bool(Conn&)>;

  ConnectionPool(std::size_t max_size, Connect connect, Healthy healthy = {},
                 std::string server = {}, std::chrono::milliseconds wait_timeout =
                                              std::chrono::seconds(30))
      : max_size_(max_size == 0 ? 1 : max_size),
        connect_(std::move(connect)),
        healthy_(std::move(healthy)),
        server_(std::move(server)),
        wait_timeout_(wait_timeout) {}

  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A borrowed connection; goes back to the pool when destroyed unless discarded.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (conn_) pool_->give_back(std::move(conn_));
    }
    Conn& operator*() const { return *conn_; }
    Conn* operator->() const { return conn_.get(); }
    // The connection is broken: close it instead of returning it.
    void discard() {
      if (conn_) {
        conn_.reset();
        pool_->forget();
      }
    }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  // Borrows an idle connection, opens a new one while fewer than max_size are open, or waits
  // for one to come back. Throws what `connect` throws, or LockStorageError after waiting
  // wait_timeout (every connection busy for that long means something is stuck).
  Lease acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
      while (!idle_.empty()) {
        std::unique_ptr<Conn> conn = std::move(idle_.back());
        idle_.pop_back();
        if (!healthy_) return Lease(this, std::move(conn));
        lock.unlock();
        if (healthy_(*conn)) return Lease(this, std::move(conn));
        conn.reset();
        lock.lock();
        --open_;
      }
      if (open_ < max_size_) {
        ++open_;
        lock.unlock();
        try {
          return Lease(this, connect_());
        } catch (...) {
          forget();
          throw;
        }
      }
      if (!available_.wait_for(lock, wait_timeout_,
                               [&] { return !idle_.empty() || open_ < max_size_; })) {
        throw LockStorageError(server_ + ": no database connection became free in " +
                               std::to_string(wait_timeout_.count()) + " ms (pool of " +
                               std::to_string(max_size_) + " connections)");
      }
    }
  }

  // Closes every idle connection (those in use close when their lease discards them).
  void clear() {
    std::vector<std::unique_ptr<Conn>> old;
    {
      std::lock_guard lock(mutex_);
      old.swap(idle_);
      open_ -= old.size();
    }
    available_.notify_all();
  }

  [[nodiscard]] std::size_t max_size() const { return max_size_; }

 private:
  void give_back(std::unique_ptr<Conn> conn) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(conn));
    }
    available_.notify_one();
  }
  void forget() {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    available_.notify_one();
  }

  const std::size_t max_size_;
  Connect connect_;
  Healthy healthy_;
  std::string server_;
  std::chrono::milliseconds wait_timeout_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::size_t open_ = 0;
};

}  // namespace verrou::detail
