// SPDX-License-Identifier: Apache-2.0
// What a store object remembers of the locks it wrote: for each key, the owner, expiry and
// mod revision of its last write. Release and extend then send their transaction conditioned
// on that revision at once, instead of reading the key first: when the revision still matches,
// the value is exactly the one written (etcd gives every write its own revision); when it does
// not, the transaction's failure branch returns the key as it is, and the store judges that.
// A missing or stale entry costs one read, never a wrong answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace verrou::detail::etcd {

// Thread safety: every member may be called concurrently.
class HeldLocks {
 public:
  struct Entry {
    std::string owner;
    std::optional<std::int64_t> expires_at_ms;
    std::int64_t mod_revision = 0;
    std::uint32_t limit = 0;  // a semaphore holder's limit; 0 for a lock
  };

  void remember(const std::string& key, Entry entry) {
    std::lock_guard lock(mutex_);
    // Locks that expire instead of being released would pile up: start afresh past a bound.
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_.insert_or_assign(key, std::move(entry));
  }

  // The entry of `key` when it was written for `owner`.
  std::optional<Entry> find(const std::string& key, const std::string& owner) const {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end() || it->second.owner != owner) return std::nullopt;
    return it->second;
  }

  void forget(const std::string& key) {
    std::lock_guard lock(mutex_);
    entries_.erase(key);
  }

 private:
  static constexpr std::size_t kMaxEntries = 4096;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace verrou::detail::etcd
