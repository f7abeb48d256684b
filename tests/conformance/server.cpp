// SPDX-License-Identifier: Apache-2.0
#include "verrou/testing/server.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>

namespace verrou::conformance {

bool servers_required() {
  const char* value = std::getenv("VERROU_REQUIRE_SERVERS");
  return value != nullptr && std::string_view(value) == "1";
}

std::string env_or(const char* name, std::string_view fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::string(fallback);
  return value;
}

std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  static const auto run = [] {
    std::random_device device;
    return std::to_string(device() % 1'000'000);
  }();
  return run + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace verrou::conformance
