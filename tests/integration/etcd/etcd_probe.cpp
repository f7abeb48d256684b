// SPDX-License-Identifier: Apache-2.0
//
// verrou_etcd_probe: how long acquisitions stop while a cluster loses a member.
//
//   verrou_etcd_probe URL SECONDS
//
// Takes and releases one lock (2 s TTL) as fast as the store answers for SECONDS, one thread,
// and prints the longest interval between two successful acquisitions ("longest gap N ms"),
// the number of cycles, of failed operations and of locks found expired at release. Exit 0 when at least one cycle succeeded in
// the last second (the store recovered), 1 otherwise, 2 for bad arguments.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: verrou_etcd_probe URL SECONDS\n");
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  try {
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
