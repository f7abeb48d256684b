// SPDX-License-Identifier: Apache-2.0
// The members of an etcd cluster a store talks to, and which one it asks first: the last one
// that answered. A member that fails is passed over for the next, in turn, so one dead or
// partitioned member costs one attempt, not every call.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

namespace verrou::detail::etcd {

// Thread safety: every member may be called concurrently.
class Endpoints {
 public:
  // `base_urls`: "http://127.0.0.1:2379", one per member, at least one.
  explicit Endpoints(std::vector<std::string> base_urls);

  [[nodiscard]] std::size_t size() const { return urls_.size(); }
  // The member to ask first.
  [[nodiscard]] std::size_t preferred() const { return preferred_.load(std::memory_order_relaxed); }
  // The `n`-th member to try in a call that started with `first`.
  [[nodiscard]] std::size_t nth_after(std::size_t first, std::size_t n) const {
    return (first + n) % urls_.size();
  }
  [[nodiscard]] const std::string& url(std::size_t index) const { return urls_[index]; }
  // "host:port" of a member, for messages.
  [[nodiscard]] std::string name(std::size_t index) const;
  // Every member, "h1:p1,h2:p2", for messages.
  [[nodiscard]] std::string describe() const;

  // `index` failed: when it is the preferred member, the next one becomes preferred.
  void failed(std::size_t index);
  // `index` answered: it becomes the preferred member.
  void answered(std::size_t index);

 private:
  std::vector<std::string> urls_;
  std::atomic<std::size_t> preferred_{0};
};

}  // namespace verrou::detail::etcd
