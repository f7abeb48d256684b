// SPDX-License-Identifier: Apache-2.0
//
// verrou_etcd_probe: how long acquisitions stop while a cluster loses a member, and whether a
// vanished holder's lock is taken before its expiration time across a leader change.
//
//   verrou_etcd_probe URL SECONDS
//   verrou_etcd_probe URL boundary TTL_MS
//
// The first form takes and releases one lock (2 s TTL) as fast as the store answers for
// SECONDS, one thread, and prints the longest interval between two successful acquisitions
// ("longest gap N ms"), the number of cycles, of failed operations and of locks found expired
// at release. Exit 0 when at least one cycle succeeded in the last second (the store
// recovered), 1 otherwise, 2 for bad arguments.
//
// The second takes a lock of TTL_MS, prints "held until E" (its holder's expiration time,
// epoch ms) and abandons it, as a crashed holder would; then another store object tries to
// take it every 10 ms for up to 60 s and prints "taken N ms after the holder's expiration".
// Exit 0 when it was taken and not before that expiration, 1 otherwise. Run it and kill the
// cluster's leader after "held": a leader change must lengthen the lease, never shorten it.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "verrou/duration.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

int boundary(const char* url, long ttl_ms) {
  const std::string key = "probe-boundary:" + std::to_string(verrou::epoch_ms_now());
  std::int64_t expiration = 0;
  {
    verrou::LockFactory holder(verrou::open_store(url));
    auto lock = holder.create_lock(key, verrou::Duration(ttl_ms));
    if (!lock.acquire({.retry = {.timeout = std::chrono::seconds(10)}})) {
      std::fprintf(stderr, "verrou_etcd_probe: could not take %s\n", key.c_str());
      return 1;
    }
    expiration = *lock.serialize().expiration_time;
    // Never released: the store object goes away as a crashed holder's would.
  }
  std::printf("held until %lld\n", static_cast<long long>(expiration));
  std::fflush(stdout);
  verrou::LockFactory taker(verrou::open_store(url));
  auto lock = taker.create_lock(key, std::chrono::seconds(10));
  long failures = 0;
  const auto end = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < end) {
    try {
      if (lock.acquire_immediately()) {
        const std::int64_t at = verrou::epoch_ms_now();
        std::printf("taken %lld ms after the holder's expiration (%ld failed attempts)\n",
                    static_cast<long long>(at - expiration), failures);
        lock.release();
        return at >= expiration ? 0 : 1;
      }
    } catch (const verrou::Error&) {
      ++failures;  // no leader for a while
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("never taken within 60 s (%ld failed attempts)\n", failures);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc != 3 && argc != 4) || (argc == 4 && std::string(argv[2]) != "boundary")) {
    std::fprintf(stderr,
                 "usage: verrou_etcd_probe URL SECONDS\n"
                 "       verrou_etcd_probe URL boundary TTL_MS\n");
    return 2;
  }
  try {
    if (argc == 4) return boundary(argv[1], std::stol(argv[3]));
    verrou::LockFactory locks(verrou::open_store(argv[1]));
    const auto start = Clock::now();
    const auto end = start + std::chrono::milliseconds(static_cast<long>(std::stod(argv[2]) * 1000));
    const std::string key = "probe:" + std::to_string(start.time_since_epoch().count());
    auto last_ok = start;
    Clock::duration longest{};
    long cycles = 0;
    long failures = 0;
    long expired = 0;
    while (Clock::now() < end) {
      try {
        auto lock = locks.create_lock(key, std::chrono::seconds(2));
        if (lock.acquire_immediately()) {
          const auto now = Clock::now();
          longest = std::max(longest, now - last_ok);
          last_ok = now;
          ++cycles;
          try {
            lock.release();
          } catch (const verrou::LockNotOwnedError&) {
            // An acquisition slowed past the 2 s TTL by an election returns a lock whose
            // lease already ran out: refused release, not a failure of the store.
            ++expired;
          }
        }
      } catch (const verrou::Error& e) {
        ++failures;
        std::fprintf(stderr, "probe: %s\n", e.what());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto ms = [](Clock::duration d) {
      return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    std::printf("longest gap %ld ms, %ld cycles, %ld failed operations, %ld expired before release\n",
                ms(longest), cycles, failures, expired);
    return Clock::now() - last_ok < std::chrono::seconds(1) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "verrou_etcd_probe: %s\n", e.what());
    return 2;
  }
}
