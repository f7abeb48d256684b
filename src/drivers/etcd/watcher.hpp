// SPDX-License-Identifier: Apache-2.0
// The etcd store's wake-ups: one watch stream per store, over every key under the store's
// lock prefix, reporting deletions only (a release, a force release, a takeover of an expired
// lock, or etcd removing a vanished holder's key at its lease's end). Waiters register their
// interest in a key and sleep until a deletion of it is seen.
//
// The stream is opened when the first waiter comes and closed when no waiter has come for a
// while. When it breaks, or its member stops answering quorum reads (a partitioned or frozen
// member sends nothing, rather than an error), it is reopened on the next member, and every
// waiter is woken to look again, so a deletion missed meanwhile strands nobody.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "drivers/etcd/client.hpp"

namespace verrou::detail::etcd {

// Thread safety: every member may be called concurrently.
class Watcher {
  struct Key;

 public:
  // Watches keys starting with `prefix`.
  Watcher(Client& client, std::string prefix);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // One waiter's interest in one key (or, with `Match::prefix`, in every key starting with
  // `key`: a semaphore's holders), while it lives.
  enum class Match { key, prefix };
  class Interest {
   public:
    Interest(Watcher& watcher, const std::string& key, Match match = Match::key);
    ~Interest();
    Interest(const Interest&) = delete;
    Interest& operator=(const Interest&) = delete;

    // A count that changes whenever the key may have been freed (a deletion of it, or the
    // stream restarted): compare before and after a look at the key.
    [[nodiscard]] std::uint64_t events() const;
    // Waits until the stream is established (deletions from then on are seen) or `until`.
    bool wait_live(Clock::time_point until) const;
    [[nodiscard]] bool live() const;
    // Waits until events() differs from `seen`, or `until`. True when it did.
    bool wait(std::uint64_t seen, Clock::time_point until) const;

   private:
    Watcher& watcher_;
    std::unordered_map<std::string, std::shared_ptr<Key>>& map_;
    std::shared_ptr<Key> key_;
  };

 private:
  void loop();
  void run_stream(std::size_t member);
  void stream(std::size_t member, const std::string& token);
  void on_line(const std::string& line);
  void broke();  // the stream ended: wake everyone
  [[nodiscard]] bool wanted(Clock::time_point now) const;  // called with mutex_ held

  Client& client_;
  std::string prefix_;
  mutable std::mutex mutex_;
  mutable std::condition_variable live_changed_;
  std::unordered_map<std::string, std::shared_ptr<Key>> keys_;
  std::unordered_map<std::string, std::shared_ptr<Key>> prefixes_;
  std::size_t interests_ = 0;
  Clock::time_point last_interest_{};
  bool live_ = false;
  bool stopping_ = false;
  bool started_ = false;
  void* multi_ = nullptr;  // the CURLM* of the stream, for curl_multi_wakeup
  std::condition_variable idle_;
  std::thread thread_;
};

}  // namespace verrou::detail::etcd
