// SPDX-License-Identifier: Apache-2.0
//
// drivers/memory.hpp: locks in the memory of this process.
//
// For threads of one process only: two processes never see each other's locks. Waiters are
// woken the moment a lock is released and served in the order they began to wait.
//
//   verrou::Verrou locks({.default_store = "memory",
//                         .stores = {{"memory", verrou::memory_store()}}});
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "verrou/store.hpp"

namespace verrou {

/// The in-process store. Expiry runs on the steady clock, so wall-clock changes do not
/// shorten or lengthen leases. Entries of released and expired locks are reclaimed, so
/// memory stays proportional to the locks held and waited for.
/// Thread safety: all members may be called concurrently; keys are spread over independent
/// shards, so threads working on different keys rarely meet.
class MemoryStore final : public LockStore,
                          public WaitableLockStore,
                          public FencingLockStore,
                          public SemaphoreStore,
                          public WaitableSemaphoreStore,
                          public ListableLockStore {
 public:
  MemoryStore();
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override;
  void remove(const std::string& key, const std::string& owner) override;
  void force_remove(const std::string& key) override;
  bool exists(const std::string& key) override;
  void extend(const std::string& key, const std::string& owner, Duration duration) override;
  /// The locks held now, with their fencing tokens (`ListableLockStore`).
  std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) override;

  /// Fencing tokens come from one counter per store object, so they increase across all
  /// keys; they start again from 1 in a new store (the store lives and dies with the process).
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<Duration> ttl) override;

  std::optional<Acquired> save_waiting(
      const std::string& key, const std::string& owner, std::optional<Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;

  /// True: a released lock goes straight to the longest waiter.
  [[nodiscard]] bool serves_waiters_in_order() const noexcept override { return true; }

  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<Duration> ttl) override;
  void remove_permit(const std::string& key, const std::string& holder) override;
  void extend_permit(const std::string& key, const std::string& holder,
                     Duration duration) override;
  std::uint32_t count_permits(const std::string& key) override;
  /// Waiters for a permit are served in the order they began to wait: a waiter at the front
  /// whose limit leaves no room is not passed by later ones.
  std::optional<Acquired> save_permit_waiting(
      const std::string& key, const std::string& holder, std::uint32_t limit,
      std::optional<Duration> ttl, std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override;

  /// How many callers are waiting in `save_waiting` for `key`; for diagnostics and tests.
  [[nodiscard]] std::size_t waiter_count(const std::string& key) const;

  /// How many keys have an entry (held, or waited for); for tests of reclamation.
  [[nodiscard]] std::size_t entry_count() const;

 private:
  struct Shard;
  static constexpr std::size_t kShards = 64;
  Shard& shard_for(const std::string& key) const;
  std::atomic<std::uint64_t> tokens_{0};  // the last fencing token given
  std::vector<std::unique_ptr<Shard>> shards_;
  struct SemaphoreShard;
  SemaphoreShard& semaphore_shard_for(const std::string& key) const;
  static std::shared_ptr<SemaphoreShard> make_semaphore_shards();
  // kShards shards in a row; a shared_ptr, since SemaphoreShard is complete only in its file.
  std::shared_ptr<SemaphoreShard> semaphore_shards_;
};

/// A `StoreFactory` making a fresh `MemoryStore`.
StoreFactory memory_store();

}  // namespace verrou
