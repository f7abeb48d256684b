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
//
// The parts: mutex_check.hpp (what they share), mutex_check_worker.cpp (the workers and the
// probe), mutex_check_logs.cpp (the checker and the report), lock_pause.cpp and
// semaphore_pause.cpp (`pause`); this file the command line, `run` and `hog-sqlite`.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mutex_check.hpp"
#include "verrou/verrou.hpp"

#ifdef VERROU_HAS_SQLITE
#include <sqlite3.h>
#endif

namespace verrou::stress {

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

std::vector<std::string> key_names(const std::string& dir, int keys) {
  // The run folder's name is unique, so keys of concurrent runs never meet.
  std::vector<std::string> names;
  const std::string base = "stress:" + fs::path(dir).filename().string() + ":";
  for (int k = 0; k < keys; ++k) names.push_back(base + std::to_string(k));
  return names;
}

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

namespace {

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
}  // namespace verrou::stress

int main(int argc, char** argv) {
  using namespace verrou::stress;
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
      if (o.ttl == verrou::Duration(10000)) o.ttl = verrou::Duration(1000);
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
