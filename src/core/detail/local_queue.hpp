// SPDX-License-Identifier: Apache-2.0
// The process-local queue of callers waiting for one key of one store.
//
// Stores that do not order their own waiters (all but memory) get fairness and instant
// in-process hand-offs from it: the callers of one process waiting for a key line up by the
// time they began to wait, only the front one asks the store, and a release made through the
// same store object wakes it at once. Exclusion itself stays the store's business; the queue
// only decides who in this process asks next.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace verrou {
class LockStore;
}

namespace verrou::detail {

struct KeyQueue;

// Locks and semaphores of one key wait in separate lines.
enum class QueueKind : unsigned char { lock, semaphore };

// A place in the queue of (store, key), held for the length of one acquire. Leaving the queue
// (destruction) lets the next caller go.
class QueueTicket {
 public:
  QueueTicket(const LockStore* store, QueueKind kind, const std::string& key,
              std::chrono::steady_clock::time_point since);
  ~QueueTicket();
  QueueTicket(const QueueTicket&) = delete;
  QueueTicket& operator=(const QueueTicket&) = delete;

  // Waits until this caller is the first in line; false when `deadline` came first.
  bool wait_front(std::chrono::steady_clock::time_point deadline);
  // How many releases of the key this process has seen: read before a try, so a release that
  // lands between the try and `wait_release` is not missed.
  [[nodiscard]] std::uint64_t releases() const;
  // Waits until a release newer than `seen`, or `until`.
  void wait_release(std::uint64_t seen, std::chrono::steady_clock::time_point until);

 private:
  std::shared_ptr<KeyQueue> queue_;
  std::uint64_t id_;
};

// Whether callers of this process wait for the key (a newcomer that does not wait must not
// pass them).
bool local_waiters(const LockStore* store, QueueKind kind, const std::string& key);

// A release of the key through `store` in this process: wakes the front waiter.
void local_release(const LockStore* store, QueueKind kind, const std::string& key);

}  // namespace verrou::detail
