// SPDX-License-Identifier: Apache-2.0
#include "semaphore_pause.hpp"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "verrou/verrou.hpp"

namespace verrou::stress {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void write_all(int fd, const std::string& text) {
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::_Exit(3);
}

// The holder that will be frozen: takes a permit of `key`, one of `key:untaken` (whose lease
// also runs out while frozen, but nobody takes it) and one of `key:kept` kept alive, says "A",
// waits to be thawed, then reports in one letter each: the keep-alive's loss ('L' within
// 500 ms, 'K' not), extend / release / extend(ttl) of the taken permit and extend / release of
// the untaken one ('R' refused with LockNotOwnedError, 'S' succeeded, 'E' storage error, 'X'
// other), and a new try on the full semaphore ('F' refused, 'T' taken).
[[noreturn]] void frozen_holder(const std::string& url, Duration ttl, std::uint32_t limit,
                                const std::string& key, int in, int out) {
  std::string result;
  try {
    LockFactory locks(open_store(url));
    auto permit = locks.create_semaphore(key, limit, ttl);
    auto lone = locks.create_semaphore(key + ":untaken", limit, ttl);
    auto kept = locks.create_semaphore(key + ":kept", limit, ttl);
    const bool taken =
        permit.acquire_immediately() && lone.acquire_immediately() && kept.acquire_immediately();
    KeepAlive keep;
    if (taken) keep = kept.keep_alive();
    write_all(out, taken ? "A" : "N");
    char go = 0;
    if (::read(in, &go, 1) != 1) std::_Exit(3);
    // Thawed: the keep-alive finds the lease gone before anything else runs.
    const auto woke = Clock::now();
    while (!keep.lost() && Clock::now() - woke < 2s) std::this_thread::sleep_for(1ms);
    result += keep.lost() && Clock::now() - woke < 500ms ? 'L' : 'K';
    auto attempt = [&](auto&& op) -> char {
      try {
        op();
        return 'S';
      } catch (const LockNotOwnedError&) {
        return 'R';
      } catch (const LockStorageError&) {
        return 'E';
      } catch (...) {
        return 'X';
      }
    };
    result += attempt([&] { permit.extend(); });
    result += attempt([&] { permit.release(); });
    result += attempt([&] { permit.extend(ttl); });
    result += attempt([&] { lone.extend(); });
    result += attempt([&] { lone.release(); });
    result += permit.acquire_immediately() ? 'T' : 'F';
    if (result.back() == 'T') permit.release();
    try {
      kept.release();
    } catch (const Error&) {
      // Lost, as checked above: nothing to give back.
    }
  } catch (const std::exception& e) {
    result = std::string("!") + e.what();
  }
  write_all(out, result);
  std::exit(0);
}

}  // namespace

int pause_permit_holder(const std::string& url, Duration ttl, std::uint32_t limit,
                        const std::string& key) {
  int to_child[2];
  int from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    frozen_holder(url, ttl, limit, key, to_child[0], from_child[1]);
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
    fail("the holder could not take its permits");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return failures;
  }
  ::kill(pid, SIGSTOP);
  std::this_thread::sleep_for(ttl + 600ms);
  // The frozen holder's permit ran out: `limit` new holders get in, and no more.
  LockFactory locks(open_store(url));
  std::vector<Semaphore> takers;
  for (std::uint32_t i = 0; i < limit; ++i) {
    takers.push_back(locks.create_semaphore(key, limit, 60s));
    if (!takers.back().acquire({.retry = {.delay = 50ms, .timeout = ttl * 4 + 5s}})) {
      fail("new holder " + std::to_string(i + 1) + " of " + std::to_string(limit) +
           " found no free permit: the frozen holder's permit did not expire");
      takers.pop_back();
      break;
    }
  }
  auto extra = locks.create_semaphore(key, limit, 60s);
  if (extra.acquire_immediately()) {
    fail("a holder beyond the limit got in while the frozen holder's permit had run out");
    extra.release();
  }
  ::kill(pid, SIGCONT);
  if (::write(to_child[1], "G", 1) != 1) fail("cannot wake the holder");
  std::string result;
  char buffer[512];
  for (ssize_t n; (n = ::read(from_child[0], buffer, sizeof buffer)) > 0;) {
    result.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(to_child[1]);
  ::close(from_child[0]);
  ::waitpid(pid, nullptr, 0);
  if (result.size() != 7 || result[0] == '!') {
    fail("the thawed holder failed: " + result);
  } else {
    if (result[0] != 'L') fail("its keep-alive did not report the permit lost within 500 ms");
    if (result.substr(1, 5) != "RRRRR") {
      fail("extend/release/extend(d) of the taken permit, then extend/release of the expired "
           "untaken one gave '" + result.substr(1, 5) +
           "' (R = LockNotOwnedError expected; S = succeeded, E = LockStorageError)");
    }
    if (result[6] != 'F') fail("the thawed holder took a permit of the full semaphore");
  }
  // The new holders kept their permits through all that.
  try {
    if (const auto held = extra.holders(); held != takers.size()) {
      fail(std::to_string(held) + " holders after the thaw, " + std::to_string(takers.size()) +
           " expected (the new ones)");
    }
    for (auto& taker : takers) {
      taker.extend();  // still a holder
      taker.release();
    }
    if (const auto held = extra.holders(); held != 0) {
      fail(std::to_string(held) + " permits still held after the new holders gave theirs back");
    }
  } catch (const std::exception& e) {
    fail(std::string("a new holder lost its permit: ") + e.what());
  }
  std::cout << "pause " << redact_url(url) << ": permit holder of a semaphore of " << limit
            << " frozen for " << ttl.count() + 600 << " ms with a " << ttl.count()
            << " ms lease; " << limit
            << " new holders in and no more, release/extend refused, keep-alive reported the "
               "loss, new holders intact: "
            << (failures == 0 ? "passed" : "FAILED") << "\n";
  return failures;
}

}  // namespace verrou::stress
