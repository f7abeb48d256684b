// SPDX-License-Identifier: Apache-2.0
// The usage example of the README: two named stores, a lock with a timeout, and run().
#include <verrou/verrou.hpp>

#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "memory:";
  verrou::Verrou locks({
      .default_store = "main",
      .stores = {
          {"main", verrou::url_store(url)},
          {"memory", verrou::memory_store()},
      },
  });

  // Four workers share one key; each takes its turn.
  int balance = 0;
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&, i] {
      auto lock = locks.create_lock("invoice:42", 10s);
      if (lock.acquire({.retry = {.timeout = 5s}})) {
        std::cout << "worker " << i << " holds invoice:42\n" << std::flush;
        balance += 10;
        std::this_thread::sleep_for(20ms);
        lock.release();
      }
    });
  }
  for (auto& w : workers) w.join();

  std::optional<int> r = locks.use("memory").create_lock("k").run([] { return 42; });
  std::cout << "balance " << balance << ", run() returned " << r.value_or(-1) << "\n";
  return balance == 40 && r == 42 ? 0 : 1;
}
