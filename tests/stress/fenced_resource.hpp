// SPDX-License-Identifier: Apache-2.0
// The fencing side of the mutual-exclusion checker (mutex_check.cpp): a resource that refuses
// writes carrying a fencing token lower than the highest it has seen, as a real fenced
// resource does (docs/fencing.md), shared by every process through a file under flock; and
// the check that tokens grow in the order acquisitions happened.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

namespace verrou::stress {

/// One file per key holding the highest token written so far. `write(token)` accepts a token
/// at least that high (and records it), refuses a lower one: the check and the write are one
/// step under an exclusive flock, as a database does in one conditional UPDATE.
class FencedResource {
 public:
  explicit FencedResource(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT, 0644)) {
    if (fd_ < 0) throw std::runtime_error("cannot open " + path);
  }
  FencedResource(const FencedResource&) = delete;
  FencedResource& operator=(const FencedResource&) = delete;
  ~FencedResource() { ::close(fd_); }

  /// True when accepted.
  bool write(std::uint64_t token) {
    if (::flock(fd_, LOCK_EX) != 0) throw std::runtime_error("flock failed");
    char buffer[32] = {};
    const ssize_t n = ::pread(fd_, buffer, 20, 0);
    const std::uint64_t highest = n > 0 ? std::strtoull(buffer, nullptr, 10) : 0;
    const bool accepted = token >= highest;
    if (accepted) {
      std::snprintf(buffer, sizeof buffer, "%20" PRIu64, token);
      if (::pwrite(fd_, buffer, 20, 0) != 20) {
        ::flock(fd_, LOCK_UN);
        throw std::runtime_error("pwrite failed");
      }
    }
    ::flock(fd_, LOCK_UN);
    return accepted;
  }

 private:
  int fd_;
};

/// An acquisition as the token check sees it: when the acquire call began and returned
/// (CLOCK_REALTIME ns, comparable across processes of one machine) and its token.
struct TokenedHold {
  std::int64_t called_at;
  std::int64_t acquired_at;
  std::uint64_t token;
  std::size_t index;  // into the caller's list, for messages
};

/// Every pair of acquisitions of one key where the first had returned before the second was
/// asked for must have increasing tokens; no two acquisitions may share one. Calls
/// `violation(earlier, later)` (indexes) for each offending pair found (at most one per
/// later acquisition). O(n log n).
inline void check_token_order(std::vector<TokenedHold> holds,
                              const std::function<void(std::size_t, std::size_t)>& violation) {
  std::sort(holds.begin(), holds.end(),
            [](const TokenedHold& a, const TokenedHold& b) { return a.called_at < b.called_at; });
  // Acquisitions not yet known to be finished when the current one was asked for, earliest
  // return first.
  auto later_return = [](const TokenedHold& a, const TokenedHold& b) {
    return a.acquired_at > b.acquired_at;
  };
  std::priority_queue<TokenedHold, std::vector<TokenedHold>, decltype(later_return)> pending(
      later_return);
  const TokenedHold* highest = nullptr;  // highest token among acquisitions finished before
  std::vector<TokenedHold> finished;
  finished.reserve(holds.size());
  for (const auto& h : holds) {
    while (!pending.empty() && pending.top().acquired_at < h.called_at) {
      finished.push_back(pending.top());
      pending.pop();
      if (highest == nullptr || finished.back().token > highest->token) {
        highest = &finished.back();
      }
    }
    if (highest != nullptr && highest->token >= h.token) violation(highest->index, h.index);
    pending.push(h);
  }
  // Duplicates among acquisitions that overlapped in time.
  std::sort(holds.begin(), holds.end(),
            [](const TokenedHold& a, const TokenedHold& b) { return a.token < b.token; });
  for (std::size_t i = 1; i < holds.size(); ++i) {
    if (holds[i].token == holds[i - 1].token) violation(holds[i - 1].index, holds[i].index);
  }
}

}  // namespace verrou::stress
