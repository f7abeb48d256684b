// SPDX-License-Identifier: Apache-2.0
#include <verrou/verrou.hpp>

#include <iostream>

using namespace std::chrono_literals;

int main() {
  verrou::Verrou locks({.default_store = "memory", .stores = {{"memory", verrou::memory_store()}}});
  auto lock = locks.create_lock("packaging", 10s);
  if (!lock.acquire({.retry = {.timeout = 1s}})) return 1;
  const bool held = lock.is_locked();
  lock.release();
  auto store = verrou::open_store("memory:");
  std::cout << "verrou installed package works; schemes:";
  for (const auto& s : verrou::supported_schemes()) std::cout << ' ' << s;
  std::cout << '\n';
  return held && store ? 0 : 1;
}
