// SPDX-License-Identifier: Apache-2.0
// verrou_mutex_check's workers (see mutex_check.cpp): the threads of one process, each looping
// on acquire, take a sequence number, read-pause-write the protected counter, write to the
// fenced resource, release; every hold appended to the process's log. And the probe.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>

#include "fenced_resource.hpp"
#include "mutex_check.hpp"
#include "semaphore_checks.hpp"
#include "verrou/verrou.hpp"

namespace verrou::stress {
namespace {

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

}  // namespace

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

}  // namespace verrou::stress
