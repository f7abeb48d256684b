// SPDX-License-Identifier: Apache-2.0
// verrou_mutex_check's checker (see mutex_check.cpp for what it checks): reads every log of a
// run folder, checks the holds of each key, the keys left held, and prints the report.
#include <algorithm>
#include <chrono>
#include <climits>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

#include "fenced_resource.hpp"
#include "mutex_check.hpp"
#include "semaphore_checks.hpp"
#include "verrou/verrou.hpp"

namespace verrou::stress {
namespace {

std::string ms(std::int64_t ns) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(3);
  out << static_cast<double>(ns) / 1e6 << " ms";
  return out.str();
}

std::string describe(const Hold& h) {
  std::ostringstream out;
  out << "[key " << h.key << " owner " << h.owner.substr(0, 8) << " fence " << h.fence;
  if (h.exit_fence != 0) out << "-" << h.exit_fence;
  out
      << " acquired " << h.acquired_at << " released " << h.released_at << " lease end "
      << (h.lease_end == kNever ? std::string("never") : std::to_string(h.lease_end)) << " release "
      << outcome_name(h.release);
  if (h.token >= 0) out << " token " << h.token << " write " << h.fenced;
  out << " (" << h.process << ")]";
  return out.str();
}

// --limit N: never more than N holds of the key inside at once, by the clock and by the order
// of their sequence numbers (semaphore_checks.hpp).
void check_permits(std::uint32_t limit, int key, const std::vector<Hold>& holds,
                   const std::function<void(const std::string&)>& violation) {
  std::vector<verrou::stress::PermitInterval> intervals;
  for (std::size_t i = 0; i < holds.size(); ++i) {
    const Hold& h = holds[i];
    intervals.push_back({.start = h.acquired_at,
                         .end = std::min(h.released_at, h.lease_end),
                         .entry = h.fence,
                         .exit = h.exit_fence,
                         .in_time = h.release == Outcome::kOk && h.released_at < h.lease_end &&
                                    h.stalled == 0,
                         .index = i});
  }
  auto describe_all = [&](const std::vector<std::size_t>& inside) {
    std::string text;
    for (const auto i : inside) text += " " + describe(holds[i]);
    return text;
  };
  verrou::stress::check_limit_by_clock(
      intervals, limit, [&](const std::vector<std::size_t>& inside, std::int64_t at) {
        violation("EXCESS on key " + std::to_string(key) + ": " + std::to_string(inside.size()) +
                  " holders with valid leases at " + std::to_string(at) + " (limit " +
                  std::to_string(limit) + "):" + describe_all(inside));
      });
  verrou::stress::check_limit_by_order(
      intervals, limit, [&](const std::vector<std::size_t>& inside, std::int64_t at) {
        violation("EXCESS IN ORDER on key " + std::to_string(key) + ": " +
                  std::to_string(inside.size()) + " holders inside at sequence number " +
                  std::to_string(at) + " (limit " + std::to_string(limit) + "):" +
                  describe_all(inside));
      });
}

}  // namespace

CheckResult check_logs(const Options& o, std::vector<std::string>& fatal) {
  CheckResult r;
  std::map<int, std::vector<Hold>> by_key;
  std::int64_t last_error = 0;
  std::map<std::string, int> per_kind;  // keep the report short: 10 of each kind
  auto violation = [&](const std::string& text) {
    if (++per_kind[text.substr(0, 8)] <= 10) r.violations.push_back(text);
  };
  for (const auto& entry : fs::directory_iterator(o.dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("log.", 0) != 0) continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string kind;
      fields >> kind;
      if (kind == "hold") {
        Hold h;
        std::string rel;
        std::string rel2;
        fields >> h.key >> h.owner >> h.fence >> h.called_at >> h.acquired_at >> h.released_at >>
            h.release_done >> h.lease_end >> h.seen >> rel >> rel2 >> h.token >> h.fenced >>
            h.written_at >> h.stalled >> h.exit_fence;
        if (!fields) {
          violation("unreadable log line in " + name + ": " + line);
          continue;
        }
        h.release = outcome_from(rel);
        h.second_release = outcome_from(rel2);
        h.process = name;
        by_key[h.key].push_back(h);
      } else if (kind == "op") {
        OpRecord op;
        std::string outcome;
        fields >> op.name >> outcome >> op.started >> op.took;
        std::getline(fields, op.message);
        op.outcome = outcome_from(outcome);
        if (op.took > std::chrono::nanoseconds(o.max_op).count()) {
          violation("HANG: " + op.name + " took " + ms(op.took) + " (limit " +
                    ms(std::chrono::nanoseconds(o.max_op).count()) + "):" + op.message);
        }
        if (op.outcome == Outcome::kNone) {
          ++r.timeouts;
        } else if (op.outcome == Outcome::kStorage) {
          ++r.storage_errors;
          last_error = std::max(last_error, op.started + op.took);
          r.longest_failed_op = std::max(r.longest_failed_op, op.took);
          if (!o.allow_faults) violation("storage error without injected faults: " + op.message);
        } else {
          violation("unexpected error from " + op.name + " (not LockStorageError):" + op.message);
        }
      } else if (kind == "fatal") {
        fatal.push_back(name + ": " + line);
      }
    }
  }
  for (auto& [key, holds] : by_key) {
    r.cycles += static_cast<long>(holds.size());
    // Release accounting, and successful calls that took too long.
    const std::int64_t max_op = std::chrono::nanoseconds(o.max_op).count();
    const std::int64_t max_acquire = max_op + std::chrono::nanoseconds(o.acquire_timeout).count();
    for (const auto& h : holds) {
      if (h.called_at > last_error) ++r.after_last_error;
      if (h.acquired_at - h.called_at > max_acquire) {
        violation("HANG: acquire took " + ms(h.acquired_at - h.called_at) + " " + describe(h));
      }
      if (h.release_done - h.released_at > max_op) {
        violation("HANG: release took " + ms(h.release_done - h.released_at) + " " + describe(h));
      }
      switch (h.release) {
        case Outcome::kOk:
          break;
        case Outcome::kNotOwned:
          // Refused while the lease was surely valid from call to answer: the lock was lost.
          // (A release that retried past the lease end is rightly refused: an expiry.)
          if (h.release_done < h.lease_end) {
            violation("LOST LOCK: release refused (LockNotOwnedError) while the lease was valid " +
                      describe(h));
          } else {
            ++r.expiries;
          }
          break;
        case Outcome::kStorage:
          ++r.ghost_releases;
          break;
        default:
          violation("release failed unexpectedly " + describe(h));
      }
      if (h.second_release == Outcome::kOk) violation("DOUBLE RELEASE: " + describe(h));
      if (h.second_release == Outcome::kOther) {
        violation("second release: unexpected error " + describe(h));
      }
    }
    if (o.limit > 0) {
      check_permits(o.limit, key, holds, violation);
      continue;
    }
    // Overlap while both leases were valid: sweep by acquisition time.
    std::sort(holds.begin(), holds.end(),
              [](const Hold& a, const Hold& b) { return a.acquired_at < b.acquired_at; });
    const Hold* longest = nullptr;
    std::int64_t longest_end = INT64_MIN;
    for (const auto& h : holds) {
      const std::int64_t end = std::min(h.released_at, h.lease_end);
      if (end <= h.acquired_at) continue;  // the lease was gone before the hold began
      if (longest != nullptr && h.acquired_at < longest_end) {
        violation("OVERLAP on key " + std::to_string(key) + " for " +
                  ms(longest_end - h.acquired_at) + ": " + describe(*longest) + " and " +
                  describe(h));
      }
      if (end > longest_end) {
        longest_end = end;
        longest = &h;
      }
    }
    // Fencing tokens: strictly increasing in the order acquisitions happened; the fenced
    // resource refuses only holders whose lease had run out.
    std::vector<verrou::stress::TokenedHold> tokened;
    for (std::size_t i = 0; i < holds.size(); ++i) {
      const Hold& h = holds[i];
      if (h.token < 0) continue;
      tokened.push_back({h.called_at, h.acquired_at, static_cast<std::uint64_t>(h.token), i});
      if (h.fenced == 'r') {
        if (h.written_at < h.lease_end) {
          violation("FENCED WRITE REFUSED while the lease was valid (a newer token wrote during "
                    "this hold: an overlap) " + describe(h));
        } else {
          ++r.stale_refused;
        }
      } else if (h.fenced == 'a' && h.written_at >= h.lease_end) {
        ++r.stale_accepted;
      }
    }
    r.tokens += static_cast<long>(tokened.size());
    verrou::stress::check_token_order(tokened, [&](std::size_t earlier, std::size_t later) {
      violation("TOKEN ORDER on key " + std::to_string(key) + ": an acquisition asked for after " +
                "another returned got a token not above it " + describe(holds[earlier]) + " " +
                describe(holds[later]));
    });
    // The counter only the lock protects, in fence order: each holder saw what the one
    // before wrote, unless that one overran its lease (a stalled holder writes no counter).
    std::sort(holds.begin(), holds.end(),
              [](const Hold& a, const Hold& b) { return a.fence < b.fence; });
    for (std::size_t i = 1; i < holds.size(); ++i) {
      const Hold& a = holds[i - 1];
      const Hold& b = holds[i];
      if (a.fence == b.fence) violation("duplicate fence " + describe(a) + describe(b));
      const bool clean = a.released_at < a.lease_end && b.released_at < b.lease_end &&
                         a.stalled == 0 && b.stalled == 0;
      if (clean && b.seen != a.seen + 1) {
        violation("LOST UPDATE on key " + std::to_string(key) + ": holder saw counter " +
                  std::to_string(b.seen) + " after the previous holder wrote " +
                  std::to_string(a.seen + 1) + " " + describe(a) + " " + describe(b));
      }
    }
  }
  return r;
}

void check_keys_free(const Options& o, const CheckResult& r, std::vector<std::string>& problems) {
  if (r.ghost_releases > 0 || !r.violations.empty()) return;
  try {
    auto store = verrou::open_store(replace_dir(o.store, o.dir));
    if (o.limit > 0) {
      auto* semaphores = dynamic_cast<verrou::SemaphoreStore*>(store.get());
      // Stalled holders' permits run out rather than being given back; where expiry is the
      // server's to apply (etcd deletes a key when its lease ends, 2 s at least), they stay
      // counted a while after their lease end: give them that long, never with long leases.
      const auto settle = std::chrono::steady_clock::now() +
                          (o.stall_every > 0 ? std::chrono::seconds(5) : std::chrono::seconds(0));
      for (const auto& key : key_names(o.dir, o.keys)) {
        auto held = semaphores->count_permits(key);
        while (held > 0 && std::chrono::steady_clock::now() < settle) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          held = semaphores->count_permits(key);
        }
        if (held > 0) {
          problems.push_back("LEFT HELD: " + std::to_string(held) + " permits of " + key +
                             " are held after every holder gave its permit back");
        }
      }
      return;
    }
    for (const auto& key : key_names(o.dir, o.keys)) {
      if (store->exists(key)) {
        problems.push_back("LEFT HELD: " + key + " is held after every holder released it");
      }
      store->force_remove(key);
    }
  } catch (const std::exception& e) {
    if (!o.allow_faults) problems.push_back(std::string("final check failed: ") + e.what());
  }
}

int report(const Options& o, CheckResult r, const std::vector<std::string>& fatal) {
  for (const auto& f : fatal) r.violations.push_back("worker failed: " + f);
  if (r.cycles < o.min_cycles) {
    r.violations.push_back("only " + std::to_string(r.cycles) + " lock cycles (at least " +
                           std::to_string(o.min_cycles) + " expected)");
  }
  // Only a store that gives tokens can refuse a stale holder; on others the stalls are off.
  if (o.expect_refusals && o.limit == 0 && r.tokens > 0 && r.stale_refused == 0) {
    r.violations.push_back("no stale write was refused by its fencing token (--expect-refusals)");
  }
  // A permit holder stalled past its TTL finds its release refused: its permit ran out.
  if (o.expect_refusals && o.limit > 0 && r.expiries == 0) {
    r.violations.push_back("no stalled holder found its release refused (--expect-refusals)");
  }
  if (o.expect_recovery) {
    if (r.storage_errors == 0) {
      r.violations.push_back("the fault was not seen: no operation failed with LockStorageError");
    }
    if (r.after_last_error == 0) {
      r.violations.push_back("no recovery: no lock acquired after the last storage error");
    }
  }
  std::cout << "mutex_check " << verrou::redact_url(o.store) << ": " << r.cycles
            << (o.limit > 0 ? " permit cycles of semaphores of " + std::to_string(o.limit) +
                                  " verified ("
                            : std::string(" lock cycles verified ("))
            << o.processes << " processes x " << o.threads
            << " threads, " << o.keys << " keys), " << r.expiries << " expiries, "
            << r.ghost_releases << " failed releases, " << r.storage_errors
            << " storage errors (longest " << ms(r.longest_failed_op) << "), " << r.timeouts
            << " acquire timeouts, " << r.after_last_error << " cycles after the last error, "
            << r.tokens << " fencing tokens in order, " << r.stale_refused
            << " stale writes refused by token (" << r.stale_accepted
            << " late writes accepted: none newer yet)\n";
  if (!r.violations.empty()) {
    for (const auto& v : r.violations) std::cout << "VIOLATION: " << v << "\n";
    std::cout << "mutex_check: FAILED (" << r.violations.size() << " problems)\n";
    return kExitViolation;
  }
  std::cout << "mutex_check: passed\n";
  return kExitOk;
}

}  // namespace verrou::stress
