// SPDX-License-Identifier: Apache-2.0
// What the parts of verrou_mutex_check share (mutex_check.cpp describes the program): its
// options, the records the workers write to their logs, and each part's entry points.
#pragma once

#include <time.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "verrou/duration.hpp"

namespace verrou::stress {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitViolation = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSkip = 77;
constexpr std::int64_t kNever = INT64_MAX;

inline std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Options {
  std::string store;
  std::string store_from_env;
  std::string dir;
  int processes = 2;
  int threads = 2;
  int keys = 3;
  double seconds = 3;
  std::optional<Duration> ttl = Duration(10000);
  long hold_us = 300;
  bool allow_faults = false;
  bool expect_recovery = false;
  Duration max_op{30000};
  long min_cycles = 1;
  Duration acquire_timeout{5000};
  long stall_every = 0;  // every Nth hold of a thread stalls past its TTL (0: never)
  bool expect_refusals = false;
  std::uint32_t limit = 0;  // 0: locks; else permits of a semaphore of this many
};

// mutex_check.cpp: the command line.
[[noreturn]] void usage(const std::string& why);
Options parse_options(int argc, char** argv);
// The store URL with `{dir}` replaced by the run folder.
std::string replace_dir(std::string url, const std::string& dir);
bool servers_required();
// The names of the run's `keys` keys, unique to the run folder `dir`.
std::vector<std::string> key_names(const std::string& dir, int keys);

// ---------------------------------------------------------------------------------------
// Records

enum class Outcome { kOk, kNotOwned, kStorage, kOther, kNone };

// The word for `o` in the logs, and back (kNone for a word it does not know).
const char* outcome_name(Outcome o);
Outcome outcome_from(const std::string& s);

struct Hold {
  int key = 0;
  std::string owner;
  std::int64_t fence = 0;
  std::int64_t called_at = 0;     // just before acquire was called
  std::int64_t acquired_at = 0;   // just after it returned true
  std::int64_t released_at = 0;   // just before release was called
  std::int64_t release_done = 0;  // just after release returned or threw
  std::int64_t lease_end = 0;     // a lower bound of the real lease end (see worker_thread)
  std::int64_t seen = 0;          // the protected counter as read while holding
  Outcome release = Outcome::kNone;
  Outcome second_release = Outcome::kNone;
  std::int64_t token = -1;     // the acquisition's fencing token; -1 when the store gives none
  char fenced = '-';           // the fenced write: 'a' accepted, 'r' refused, '-' none
  std::int64_t written_at = 0; // just after the fenced write
  int stalled = 0;             // 1: stalled past its TTL before writing
  std::int64_t exit_fence = 0; // --limit: the sequence number taken before release (else 0)
  std::string process;  // log file, for messages
};

// Failed operations, and how long they took: "op <name> <outcome> <start> <duration_ns>".
struct OpRecord {
  std::string name;
  Outcome outcome = Outcome::kNone;
  std::int64_t started = 0;
  std::int64_t took = 0;
  std::string message;
};

class Log {
 public:
  void hold(const Hold& h) {
    std::ostringstream line;
    line << "hold " << h.key << ' ' << h.owner << ' ' << h.fence << ' ' << h.called_at << ' '
         << h.acquired_at << ' ' << h.released_at << ' ' << h.release_done << ' ' << h.lease_end
         << ' ' << h.seen << ' ' << outcome_name(h.release) << ' ' << outcome_name(h.second_release)
         << ' ' << h.token << ' ' << h.fenced << ' ' << h.written_at << ' ' << h.stalled << ' '
         << h.exit_fence << '\n';
    add(line.str());
  }
  void op(const OpRecord& r) {
    std::string message = r.message;
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::ostringstream line;
    line << "op " << r.name << ' ' << outcome_name(r.outcome) << ' ' << r.started << ' ' << r.took
         << ' ' << message << '\n';
    add(line.str());
  }
  void add(const std::string& line) {
    std::lock_guard<std::mutex> guard(mutex_);
    text_ += line;
  }
  void write(const std::string& path) {
    std::lock_guard<std::mutex> guard(mutex_);
    std::ofstream out(path, std::ios::app);
    out << text_;
    text_.clear();
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

// mutex_check_worker.cpp: one worker process (its threads loop on the keys, each hold logged),
// and the probe that tells whether the store is reachable.
int worker_process(const Options& o, int index);
// Opens the store and asks it one question, in a child process so that the parent forks
// its workers with no threads of its own. Returns "" when reachable, else why not.
std::string probe(const Options& o);

// mutex_check_logs.cpp: the checks of every log of a run folder, and the report.
struct CheckResult {
  long cycles = 0;
  long expiries = 0;        // refused releases after the lease ran out
  long ghost_releases = 0;  // releases that failed with a storage error
  long storage_errors = 0;
  long timeouts = 0;
  long after_last_error = 0;  // holds acquired after the last storage error
  std::int64_t longest_failed_op = 0;
  long tokens = 0;          // acquisitions with a fencing token, checked
  long stale_refused = 0;   // fenced writes refused from holders whose lease had run out
  long stale_accepted = 0;  // late writes accepted: nobody newer had written yet
  std::vector<std::string> violations;
};

CheckResult check_logs(const Options& o, std::vector<std::string>& fatal);
// After the workers: no key may stay held unless a release failed (it then expires).
void check_keys_free(const Options& o, const CheckResult& r, std::vector<std::string>& problems);
int report(const Options& o, CheckResult r, const std::vector<std::string>& fatal);

// lock_pause.cpp: `pause` on a lock (a holder frozen past its TTL).
int pause_test(Options o);

}  // namespace verrou::stress
