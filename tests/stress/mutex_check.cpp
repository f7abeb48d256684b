// SPDX-License-Identifier: Apache-2.0
//
// verrou_mutex_check: does a store keep its promise of mutual exclusion under load?
//
//   verrou_mutex_check run   --store URL [--store-env VAR] [--processes N] [--threads M]
//                            [--keys K] [--seconds S] [--ttl D] [--hold-us U] [--dir D]
//                            [--allow-faults] [--limit N]
//                            [--expect-recovery] [--max-op D] [--min-cycles N]
//   verrou_mutex_check check --dir D [--allow-faults] [--expect-recovery] [--max-op D] ...
//   verrou_mutex_check pause --store URL [--ttl D] [--limit N]
//   verrou_mutex_check hog-sqlite --dir D [--seconds S]
//
// `run` forks N processes of M threads each; every thread loops on a handful of keys:
// acquire, take a sequence number (a per-key counter file under flock), read-pause-write a
// per-key counter file that only the lock protects, write the acquisition's fencing token to
// a per-key fenced resource (which refuses a token lower than the highest it has seen, as a
// real fenced resource does), release (and now and then release again, which must be
// refused). Each hold is appended to the process's log as (key, owner, sequence number,
// acquire-call time, acquired-at, released-at, release-returned-at, lease end, counter seen,
// release outcome, second-release outcome, fencing token, fenced-write outcome and time,
// stalled), all on CLOCK_REALTIME so processes compare. With --stall-every N, every Nth hold
// of a thread on a store that gives tokens stalls past its TTL (as a paused process) before
// its write, which then goes to the fenced resource only.
// The parent then checks every log (the `check` verb does the same on an existing folder):
//
//  - no two holds of one key overlap while both leases were valid. Recorded intervals are
//    inside the real ones (acquired-at is taken after acquire returned, released-at before
//    release is called) and the lease end is counted from before the acquire call, so any
//    overlap found is a real one;
//  - the lock-protected counter, read in fence order, never skips or repeats a value (a lost
//    update means two holders at once, whatever the clocks say);
//  - every successful acquire was followed by exactly one successful release, or by a
//    refused release after its lease ran out (an expiry); a release refused while the lease
//    was valid means the lock was lost, and a second release that succeeds is a double release;
//  - no failed operation or release took longer than --max-op, no acquire longer than its
//    --acquire-timeout plus --max-op (nothing hangs);
//  - once all holders are done, no key is left held unless a release failed (a ghost that
//    then expires with its TTL);
//  - on stores that give fencing tokens: an acquisition that returned before another was asked
//    for has a lower token, and no two acquisitions of a key share one (tokens strictly
//    increase in the order the holds happened, across processes). The fenced resource never
//    refuses a write made while its lease was valid (that would be an overlap seen through the
//    tokens); writes it refuses from holders whose lease ran out (stalled ones) are counted
//    apart, as stale holders caught by their token (--expect-refusals: at least one).
//
// With --limit N, every worker takes a permit of a semaphore of N permits per key instead of a
// lock, and the checks become (semaphore_checks.hpp): never more than N holds of a key with
// valid leases at one instant by the clock, nor more than N holds released in time inside at
// once in the order of the per-key sequence numbers each hold takes on entry and on exit; the
// release accounting, the time limits and the final check (no permit left held) as for locks.
// Semaphores give no fencing tokens: there is no protected counter (N holders write side by
// side) nor fenced resource, and --stall-every stalls holders past their TTL all the same
// (their permits must be free for others meanwhile; --expect-refusals then asks that some
// stalled holder found its release refused).
//
// `pause` checks that a holder frozen past its TTL (SIGSTOP … SIGCONT) finds release and
// extend refused with LockNotOwnedError (also on a lock whose lease ran out untaken), that its
// keep-alive signals the loss at once when it runs again, that its late write is refused by
// the fenced resource once the new holder (with a higher token) wrote, and that the new
// holder's lock survives. With --limit N it checks the same of a semaphore's permit
// (semaphore_pause.cpp): frozen past its TTL, its permit is free for N new holders, which
// keep theirs when it thaws.
//
// `hog-sqlite` holds an exclusive transaction on D/stress.db for S seconds: the SQLite
// store's writers then wait out their busy timeout and fail (the fault tests use it).
//
// A `{dir}` in the URL is replaced by the run folder (for SQLite files).
// Exit codes: 0 passed, 1 a violation, 2 usage or unexpected error, 77 store unreachable
// (skipped; with VERROU_REQUIRE_SERVERS=1 this is exit 1 instead).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fenced_resource.hpp"
#include "semaphore_checks.hpp"
#include "semaphore_pause.hpp"
#include "verrou/verrou.hpp"

#ifdef VERROU_HAS_SQLITE
#include <sqlite3.h>
#endif

namespace {

namespace fs = std::filesystem;
using verrou::Duration;

constexpr int kExitOk = 0;
constexpr int kExitViolation = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSkip = 77;
constexpr std::int64_t kNever = INT64_MAX;

std::int64_t realtime_ns() {
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

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "verrou_mutex_check: " << why << "\n"
            << "usage: verrou_mutex_check run --store URL [--store-env VAR] [--processes N]\n"
               "         [--threads M] [--keys K] [--seconds S] [--ttl D|forever] [--hold-us U]\n"
               "         [--dir D] [--allow-faults] [--expect-recovery] [--max-op D]\n"
               "         [--min-cycles N] [--acquire-timeout D] [--stall-every N]\n"
               "         [--expect-refusals] [--limit N]\n"
               "       verrou_mutex_check check --dir D [same checking options]\n"
               "       verrou_mutex_check pause --store URL [--ttl D] [--limit N]\n"
               "       verrou_mutex_check hog-sqlite --dir D [--seconds S]\n";
  std::exit(kExitUsage);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    const std::string name = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(name + " needs a value");
      return argv[++i];
    };
    try {
      if (name == "--store") {
        o.store = value();
      } else if (name == "--store-env") {
        // The URL from this environment variable when set (CI points tests at its servers).
        const char* env = std::getenv(value().c_str());
        if (env != nullptr && *env != '\0') o.store_from_env = env;
      } else if (name == "--dir") {
        o.dir = value();
      } else if (name == "--processes") {
        o.processes = std::stoi(value());
      } else if (name == "--threads") {
        o.threads = std::stoi(value());
      } else if (name == "--keys") {
        o.keys = std::stoi(value());
      } else if (name == "--seconds") {
        o.seconds = std::stod(value());
      } else if (name == "--ttl") {
        o.ttl = verrou::parse_ttl(value());
      } else if (name == "--hold-us") {
        o.hold_us = std::stol(value());
      } else if (name == "--allow-faults") {
        o.allow_faults = true;
      } else if (name == "--expect-recovery") {
        o.expect_recovery = o.allow_faults = true;
      } else if (name == "--max-op") {
        o.max_op = verrou::parse_duration(value());
      } else if (name == "--min-cycles") {
        o.min_cycles = std::stol(value());
      } else if (name == "--acquire-timeout") {
        o.acquire_timeout = verrou::parse_duration(value());
      } else if (name == "--stall-every") {
        o.stall_every = std::stol(value());
      } else if (name == "--expect-refusals") {
        o.expect_refusals = true;
      } else if (name == "--limit") {
        const auto limit = std::stoull(value());
        verrou::validate_semaphore_limit(limit);
        o.limit = static_cast<std::uint32_t>(limit);
      } else {
        usage("unknown option " + name);
      }
    } catch (const std::exception& e) {
      usage("bad value for " + name + ": " + e.what());
    }
  }
  if (!o.store_from_env.empty()) o.store = o.store_from_env;
  if (o.processes < 1 || o.threads < 1 || o.keys < 1 || o.seconds <= 0) {
    usage("--processes, --threads, --keys and --seconds must be positive");
  }
  return o;
}

std::string replace_dir(std::string url, const std::string& dir) {
  const std::string token = "{dir}";
  for (auto at = url.find(token); at != std::string::npos; at = url.find(token)) {
    url.replace(at, token.size(), dir);
  }
  return url;
}

bool servers_required() {
  const char* v = std::getenv("VERROU_REQUIRE_SERVERS");
  return v != nullptr && std::string(v) == "1";
}

// ---------------------------------------------------------------------------------------
// Records

enum class Outcome { kOk, kNotOwned, kStorage, kOther, kNone };

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kNotOwned:
      return "not_owned";
    case Outcome::kStorage:
      return "storage_error";
    case Outcome::kOther:
      return "other_error";
    case Outcome::kNone:
      return "-";
  }
  return "?";
}

Outcome outcome_from(const std::string& s) {
  if (s == "ok") return Outcome::kOk;
  if (s == "not_owned") return Outcome::kNotOwned;
  if (s == "storage_error") return Outcome::kStorage;
  if (s == "other_error") return Outcome::kOther;
  return Outcome::kNone;
}

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

// ---------------------------------------------------------------------------------------
// Files that the lock (counter) or flock (fence) protect. Fixed-width numbers at offset 0.

std::int64_t read_number(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, 20, 0);
  if (n <= 0) return 0;
  return std::strtoll(buffer, nullptr, 10);
}

void write_number(int fd, std::int64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%20" PRId64, value);
  if (::pwrite(fd, buffer, 20, 0) != 20) throw std::runtime_error("pwrite failed");
}

std::int64_t next_fence(int fd) {
  if (::flock(fd, LOCK_EX) != 0) throw std::runtime_error("flock failed");
  const std::int64_t value = read_number(fd) + 1;
  write_number(fd, value);
  ::flock(fd, LOCK_UN);
  return value;
}

int open_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

std::vector<std::string> key_names(const std::string& dir, int keys) {
  // The run folder's name is unique, so keys of concurrent runs never meet.
  std::vector<std::string> names;
  const std::string base = "stress:" + fs::path(dir).filename().string() + ":";
  for (int k = 0; k < keys; ++k) names.push_back(base + std::to_string(k));
  return names;
}

// ---------------------------------------------------------------------------------------
// Workers

void worker_thread(const Options& o, const std::vector<std::string>& keys,
                   verrou::LockFactory& locks, Log& log, std::int64_t end_ns, unsigned seed) {
  std::vector<int> fence_fds;
  std::vector<int> counter_fds;
  std::vector<std::unique_ptr<verrou::stress::FencedResource>> fenced;
  for (int k = 0; k < o.keys; ++k) {
    fence_fds.push_back(open_file(o.dir + "/fence." + std::to_string(k)));
    counter_fds.push_back(open_file(o.dir + "/counter." + std::to_string(k)));
    fenced.push_back(std::make_unique<verrou::stress::FencedResource>(o.dir + "/fenced." +
                                                                       std::to_string(k)));
  }
  std::mt19937 rng(seed);
  long cycle = 0;
  auto failed = [&](const char* name, Outcome outcome, std::int64_t started,
                    const std::string& message) {
    log.op({name, outcome, started, realtime_ns() - started, message});
  };
  while (realtime_ns() < end_ns) {
    const int k = static_cast<int>(rng() % static_cast<unsigned>(o.keys));
    Hold h;
    h.key = k;
    const auto& key = keys[static_cast<std::size_t>(k)];
    verrou::stress::LockOrPermit lock =
        o.limit > 0 ? verrou::stress::LockOrPermit(locks.create_semaphore(key, o.limit, o.ttl))
                    : verrou::stress::LockOrPermit(locks.create_lock(key, o.ttl));
    h.owner = lock.owner();
    h.called_at = realtime_ns();
    bool acquired = false;
    try {
      acquired = lock.acquire({.retry = {.delay = Duration(20), .timeout = o.acquire_timeout}});
    } catch (const verrou::LockStorageError& e) {
      failed("acquire", Outcome::kStorage, h.called_at, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    } catch (const std::exception& e) {
      failed("acquire", Outcome::kOther, h.called_at, e.what());
      continue;
    }
    if (!acquired) {
      log.op({"acquire", Outcome::kNone, h.called_at, realtime_ns() - h.called_at, "timed out"});
      continue;
    }
    h.acquired_at = realtime_ns();
    // The lease, as a lower bound of when the store lets it go: counted from before the
    // acquire call, or — tighter after retries — from the expiration the lock computed from
    // a clock read just before the successful write. Less 1 ms either way: stores count
    // leases in whole milliseconds from a start rounded down (Redis PX, SQL epoch-ms columns).
    h.lease_end = kNever;
    if (o.ttl) {
      h.lease_end = h.called_at + std::chrono::nanoseconds(*o.ttl).count() - 1'000'000;
      if (const auto left = lock.remaining_time()) {
        h.lease_end = std::max(h.lease_end,
                               h.acquired_at + std::chrono::nanoseconds(*left).count() - 1'000'000);
      }
    }
    const auto token = lock.fencing_token();
    if (token) h.token = static_cast<std::int64_t>(*token);
    h.fence = next_fence(fence_fds[static_cast<std::size_t>(k)]);
    // N permit holders write side by side: no counter only they protect.
    if (o.limit == 0) h.seen = read_number(counter_fds[static_cast<std::size_t>(k)]);
    std::this_thread::sleep_for(std::chrono::microseconds(o.hold_us));
    // A stalled holder (a paused process) writes past its lease, to the fenced resource
    // only: without a token nothing could stop its write, so it stalls only with one. A
    // permit holder writes nothing: it stalls all the same, and its permit must be free.
    h.stalled = (token || o.limit > 0) && o.ttl && o.stall_every > 0 &&
                        (cycle + 1) % o.stall_every == 0
                    ? 1
                    : 0;
    if (h.stalled != 0) {
      std::this_thread::sleep_for(*o.ttl + std::chrono::milliseconds(50));
    } else if (o.limit == 0) {
      write_number(counter_fds[static_cast<std::size_t>(k)], h.seen + 1);
    }
    if (token) {
      h.fenced = fenced[static_cast<std::size_t>(k)]->write(*token) ? 'a' : 'r';
      h.written_at = realtime_ns();
    }
    if (o.limit > 0) h.exit_fence = next_fence(fence_fds[static_cast<std::size_t>(k)]);
    h.released_at = realtime_ns();
    auto try_release = [&](const char* name) {
      const std::int64_t started = realtime_ns();
      try {
        lock.release();
        return Outcome::kOk;
      } catch (const verrou::LockNotOwnedError&) {
        return Outcome::kNotOwned;
      } catch (const verrou::LockStorageError& e) {
        failed(name, Outcome::kStorage, started, e.what());
        return Outcome::kStorage;
      } catch (const std::exception& e) {
        failed(name, Outcome::kOther, started, e.what());
        return Outcome::kOther;
      }
    };
    h.release = try_release("release");
    h.release_done = realtime_ns();
    if (h.release == Outcome::kOk && cycle % 4 == 0) h.second_release = try_release("release2");
    log.hold(h);
    ++cycle;
  }
  for (int fd : fence_fds) ::close(fd);
  for (int fd : counter_fds) ::close(fd);
}

int worker_process(const Options& o, int index) {
  Log log;
  const std::string path = o.dir + "/log." + std::to_string(index);
  try {
    verrou::LockFactory locks(verrou::open_store(replace_dir(o.store, o.dir)));
    const auto keys = key_names(o.dir, o.keys);
    const std::int64_t end_ns = realtime_ns() + static_cast<std::int64_t>(o.seconds * 1e9);
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] {
        try {
          worker_thread(
              o, keys, locks, log, end_ns,
              static_cast<unsigned>(index * 1000 + t) ^ static_cast<unsigned>(::getpid()));
        } catch (const std::exception& e) {
          log.add(std::string("fatal ") + e.what() + "\n");
        }
      });
    }
    for (auto& t : threads) t.join();
  } catch (const std::exception& e) {
    log.add(std::string("fatal ") + e.what() + "\n");
  }
  log.write(path);
  return 0;
}

// Opens the store and asks it one question, in a child process so that the parent forks
// its workers with no threads of its own. Returns "" when reachable, else why not.
std::string probe(const Options& o) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string why;
    try {
      auto store = verrou::open_store(replace_dir(o.store, o.dir));
      (void)store->exists(key_names(o.dir, 1)[0] + ":probe");
      if (o.limit > 0) {
        auto* semaphores = dynamic_cast<verrou::SemaphoreStore*>(store.get());
        if (semaphores == nullptr) {
          // Not a server that is down: a store named for semaphores that has none.
          const std::string text = "--limit: the store " + verrou::redact_url(o.store) +
                                   " has no semaphores (it does not implement "
                                   "verrou::SemaphoreStore)";
          if (::write(fds[1], text.data(), text.size()) < 0) std::_Exit(3);
          std::_Exit(kExitUsage);
        }
        (void)semaphores->count_permits(key_names(o.dir, 1)[0] + ":probe");
      }
    } catch (const std::exception& e) {
      why = e.what();
      if (why.empty()) why = "unknown error";
    }
    if (!why.empty() && ::write(fds[1], why.data(), why.size()) < 0) {
      std::_Exit(3);
    }
    std::exit(0);
  }
  ::close(fds[1]);
  std::string why;
  char buffer[512];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) {
    why.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitUsage) usage(why);
  if (why.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) why = "probe crashed";
  return why;
}

// ---------------------------------------------------------------------------------------
// The checker

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

// After the workers: no key may stay held unless a release failed (it then expires).
void check_keys_free(const Options& o, const CheckResult& r, std::vector<std::string>& problems) {
  if (r.ghost_releases > 0 || !r.violations.empty()) return;
  try {
    auto store = verrou::open_store(replace_dir(o.store, o.dir));
    if (o.limit > 0) {
      auto* semaphores = dynamic_cast<verrou::SemaphoreStore*>(store.get());
      for (const auto& key : key_names(o.dir, o.keys)) {
        if (const auto held = semaphores->count_permits(key); held > 0) {
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

int run(Options o) {
  bool own_dir = false;
  if (o.dir.empty()) {
    char templ[] = "/tmp/verrou-stress.XXXXXX";
    if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
    o.dir = templ;
    own_dir = true;
  } else {
    fs::create_directories(o.dir);
  }
  if (const std::string why = probe(o); !why.empty()) {
    if (own_dir) fs::remove_all(o.dir);
    std::cout << "mutex_check: store " << verrou::redact_url(o.store) << " unreachable: " << why
              << "\n";
    if (servers_required()) {
      std::cout << "mutex_check: FAILED (VERROU_REQUIRE_SERVERS=1)\n";
      return kExitViolation;
    }
    std::cout << "mutex_check: skipped (set VERROU_REQUIRE_SERVERS=1 to fail instead)\n";
    return kExitSkip;
  }
  std::vector<pid_t> children;
  for (int p = 0; p < o.processes; ++p) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      std::cout.flush();
      std::exit(worker_process(o, p));  // exit, not _Exit: sanitizers report at exit
    }
    children.push_back(pid);
  }
  std::vector<std::string> fatal;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fatal.push_back("process " + std::to_string(pid) + " ended abnormally (status " +
                      std::to_string(status) + ")");
    }
  }
  CheckResult r = check_logs(o, fatal);
  check_keys_free(o, r, r.violations);
  const int code = report(o, r, fatal);
  if (own_dir && code == kExitOk) fs::remove_all(o.dir);
  if (code != kExitOk) std::cout << "mutex_check: logs kept in " << o.dir << "\n";
  return code;
}

// ---------------------------------------------------------------------------------------
// A holder frozen past its TTL.

int pause_test(Options o) {
  if (!o.ttl) usage("pause needs a TTL");
  const Duration ttl = *o.ttl;
  char templ[] = "/tmp/verrou-pause.XXXXXX";
  if (::mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
  o.dir = templ;
  const std::string url = replace_dir(o.store, o.dir);
  if (const std::string why = probe(o); !why.empty()) {
    std::cout << "pause: store unreachable: " << why << "\n";
    fs::remove_all(o.dir);
    return servers_required() ? kExitViolation : kExitSkip;
  }
  const std::string key = key_names(o.dir, 1)[0] + ":paused";
  if (o.limit > 0) {
    const int code = verrou::stress::pause_permit_holder(url, ttl, o.limit, key);
    fs::remove_all(o.dir);
    return code == 0 ? kExitOk : kExitViolation;
  }
  int to_child[2];
  int from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    std::string result;
    try {
      verrou::LockFactory locks(verrou::open_store(url));
      auto lock = locks.create_lock(key, ttl);
      // A second lock whose lease also runs out while frozen, but that nobody takes.
      auto lone = locks.create_lock(key + ":untaken", ttl);
      // A third, kept alive: frozen past its TTL, it must be reported lost at once on waking.
      auto kept = locks.create_lock(key + ":kept", ttl);
      result = lock.acquire_immediately() && lone.acquire_immediately() &&
                       kept.acquire_immediately()
                   ? "A"
                   : "N";
      verrou::KeepAlive keep;
      if (result == "A") keep = kept.keep_alive();
      if (::write(from_child[1], result.data(), 1) != 1) std::_Exit(3);
      char go = 0;
      if (::read(to_child[0], &go, 1) != 1) std::_Exit(3);
      // Thawed: the keep-alive finds the lease gone before anything else runs.
      const auto woke = std::chrono::steady_clock::now();
      while (!keep.lost() && std::chrono::steady_clock::now() - woke < std::chrono::seconds(2)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      const char kept_result =
          keep.lost() && std::chrono::steady_clock::now() - woke < std::chrono::milliseconds(500)
              ? 'L'
              : 'K';
      // The late write: the new holder wrote with a higher token meanwhile.
      char fenced_result = '-';
      if (const auto token = lock.fencing_token()) {
        verrou::stress::FencedResource resource(o.dir + "/fenced.paused");
        fenced_result = resource.write(*token) ? 'S' : 'R';
      }
      // Thawed: the lease is long gone and someone else holds the key.
      auto attempt = [&](auto&& op) -> char {
        try {
          op();
          return 'S';  // succeeded: wrong
        } catch (const verrou::LockNotOwnedError&) {
          return 'R';  // refused: right
        } catch (const verrou::LockStorageError&) {
          return 'E';
        } catch (...) {
          return 'X';
        }
      };
      result = {attempt([&] { lock.extend(); }), attempt([&] { lock.release(); }),
                attempt([&] { lock.extend(ttl); }), attempt([&] { lone.extend(); }),
                attempt([&] { lone.release(); }), kept_result, fenced_result};
      const auto token = lock.fencing_token();
      result += ":" + (token ? std::to_string(*token) : std::string("-"));
    } catch (const std::exception& e) {
      result = std::string("F") + e.what();
    }
    if (::write(from_child[1], result.data(), result.size()) < 0) std::_Exit(3);
    std::exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  int failures = 0;
  auto fail = [&](const std::string& what) {
    std::cout << "pause: FAILED: " << what << "\n";
    ++failures;
  };
  char first = 0;
  if (::read(from_child[0], &first, 1) != 1 || first != 'A') {
    fail("the holder could not take the lock");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return kExitViolation;
  }
  ::kill(pid, SIGSTOP);
  std::this_thread::sleep_for(ttl + std::chrono::milliseconds(600));
  verrou::LockFactory locks(verrou::open_store(url));
  auto taker = locks.create_lock(key, Duration(60000));
  const bool taken =
      taker.acquire({.retry = {.delay = Duration(50), .timeout = ttl * 4 + Duration(5000)}});
  if (!taken) fail("the lock of the frozen holder did not expire");
  // The new holder writes to the fenced resource with its token.
  if (taken && taker.fencing_token()) {
    verrou::stress::FencedResource resource(o.dir + "/fenced.paused");
    if (!resource.write(*taker.fencing_token())) fail("the new holder's write was refused");
  }
  ::kill(pid, SIGCONT);
  const char go = 'G';
  if (::write(to_child[1], &go, 1) != 1) fail("cannot wake the holder");
  std::string result;
  char buffer[512];
  for (ssize_t n; (n = ::read(from_child[0], buffer, sizeof buffer)) > 0;) {
    result.append(buffer, static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  // "RRRRR" + keep-alive + fenced write + ":" + the frozen holder's token.
  const auto colon = result.find(':');
  const std::string outcomes = result.substr(0, colon);
  const std::string frozen_token = colon == std::string::npos ? "" : result.substr(colon + 1);
  const bool tokens = taken && taker.fencing_token().has_value();
  if (outcomes.substr(0, 5) != "RRRRR") {
    fail(
        "the thawed holder's extend/release/extend(d) on the taken lock, then extend/release "
        "on the expired untaken one gave '" +
        outcomes.substr(0, 5) +
        "' (R = LockNotOwnedError expected; S = succeeded, E = LockStorageError, F = failed)");
  }
  if (outcomes.size() < 7 || outcomes[5] != 'L') {
    fail("the thawed holder's keep-alive did not report its lock lost within 500 ms (got '" +
         result + "')");
  }
  if (tokens) {
    if (outcomes.size() < 7 || outcomes[6] != 'R') {
      fail("the fenced resource accepted the thawed holder's late write (got '" + result + "')");
    }
    if (frozen_token == "-" || frozen_token.empty() ||
        std::stoull(frozen_token) >= *taker.fencing_token()) {
      fail("the new holder's token " + std::to_string(*taker.fencing_token()) +
           " is not above the frozen holder's " + frozen_token);
    }
  }
  if (taken) {
    try {
      if (!taker.is_locked()) fail("the new holder's lock was deleted by the thawed holder");
      taker.extend();  // still the owner
      taker.release();
      if (taker.is_locked()) fail("the key is still held after the new holder released it");
    } catch (const std::exception& e) {
      fail(std::string("the new holder lost its lock: ") + e.what());
    }
  }
  fs::remove_all(o.dir);
  std::cout << "pause " << verrou::redact_url(o.store) << ": holder frozen for "
            << ttl.count() + 600 << " ms with a " << ttl.count()
            << " ms lease; release/extend refused, keep-alive reported the loss"
            << (tokens ? ", late write refused by its token" : ", store gives no tokens")
            << "; new holder intact: "
            << (failures == 0 ? "passed" : "FAILED") << "\n";
  return failures == 0 ? kExitOk : kExitViolation;
}

int hog_sqlite(const Options& o) {
#ifdef VERROU_HAS_SQLITE
  const std::string path = o.dir + "/stress.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::cerr << "hog-sqlite: cannot open " << path << ": " << sqlite3_errmsg(db) << "\n";
    sqlite3_close(db);
    return kExitUsage;
  }
  sqlite3_busy_timeout(db, 10000);
  if (sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::cerr << "hog-sqlite: BEGIN EXCLUSIVE failed: " << sqlite3_errmsg(db) << "\n";
    sqlite3_close(db);
    return kExitUsage;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return kExitOk;
#else
  (void)o;
  std::cerr << "hog-sqlite: this build has no SQLite\n";
  return kExitSkip;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("missing verb");
  const std::string verb = argv[1];
  try {
    Options o = parse_options(argc, argv);
    if (verb == "run") {
      if (o.store.empty()) usage("run needs --store");
      return run(o);
    }
    if (verb == "check") {
      if (o.dir.empty()) usage("check needs --dir");
      std::vector<std::string> fatal;
      CheckResult r = check_logs(o, fatal);
      return report(o, r, fatal);
    }
    if (verb == "pause") {
      if (o.store.empty()) usage("pause needs --store");
      if (o.ttl == Duration(10000)) o.ttl = Duration(1000);
      return pause_test(o);
    }
    if (verb == "hog-sqlite") {
      if (o.dir.empty()) usage("hog-sqlite needs --dir");
      return hog_sqlite(o);
    }
    usage("unknown verb " + verb);
  } catch (const std::exception& e) {
    std::cerr << "verrou_mutex_check: " << e.what() << "\n";
    return kExitUsage;
  }
}
