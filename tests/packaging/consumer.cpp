// SPDX-License-Identifier: Apache-2.0
// A program built against an installed verrou: a lock on the memory store, one on an SQLite
// database in memory (a driver component), and the version seen three ways.
#include <verrou/drivers/sqlite.hpp>
#include <verrou/verrou.hpp>

#include <iostream>
#include <string_view>

using namespace std::chrono_literals;

int main() {
  verrou::Verrou locks({.default_store = "memory",
                        .stores = {{"memory", verrou::memory_store()},
                                   {"sqlite", verrou::sqlite_store({.path = ":memory:"})}}});
  auto lock = locks.create_lock("packaging", 10s);
  if (!lock.acquire({.retry = {.timeout = 1s}})) return 1;
  const bool held = lock.is_locked();
  lock.release();

  auto on_sqlite = locks.use("sqlite").create_lock("packaging", 10s);
  if (!on_sqlite.acquire_immediately()) return 2;
  try {
    locks.use("sqlite").create_lock("packaging", 10s).release();  // another owner
    return 3;
  } catch (const verrou::LockNotOwnedError&) {  // thrown inside libverrou, caught here
  }
  on_sqlite.release();

  auto store = verrou::open_store("memory:");
  std::cout << "verrou " << verrou::library_version() << " installed package works; schemes:";
  for (const auto& s : verrou::supported_schemes()) std::cout << ' ' << s;
  std::cout << '\n';

#ifdef VERROU_PACKAGE_VERSION
  if (std::string_view(VERROU_PACKAGE_VERSION) != VERROU_VERSION_STRING) {
    std::cerr << "package configuration says " << VERROU_PACKAGE_VERSION << ", headers say "
              << VERROU_VERSION_STRING << '\n';
    return 4;
  }
#endif
  if (verrou::library_version() != VERROU_VERSION_STRING) {
    std::cerr << "library " << verrou::library_version() << ", headers " << VERROU_VERSION_STRING
              << '\n';
    return 5;
  }
  return held && store ? 0 : 6;
}
