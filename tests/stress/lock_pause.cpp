// SPDX-License-Identifier: Apache-2.0
// `verrou_mutex_check pause` on a lock (see mutex_check.cpp): a holder frozen past its TTL
// (SIGSTOP … SIGCONT) finds release and extend refused, its keep-alive reports the loss, its
// late write is refused by the fenced resource, and the new holder keeps the lock. With
// --limit N the same of a semaphore's permit is in semaphore_pause.cpp.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "fenced_resource.hpp"
#include "mutex_check.hpp"
#include "semaphore_pause.hpp"
#include "verrou/verrou.hpp"

namespace verrou::stress {

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

}  // namespace verrou::stress
