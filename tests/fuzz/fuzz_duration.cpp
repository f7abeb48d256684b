// SPDX-License-Identifier: Apache-2.0
// Fuzz target: parse_duration and parse_ttl. Any text either parses to a duration in range or
// throws InvalidArgumentError; nothing else (no other exception, no UB, no crash).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const verrou::Duration d = verrou::parse_duration(text);
    // The documented ceiling: kMaxTtl × 1000; durations are never negative.
    if (d.count() < 0 || d.count() / 1000 > verrou::kMaxTtl.count()) std::abort();
  } catch (const verrou::InvalidArgumentError&) {
  }
  try {
    const auto ttl = verrou::parse_ttl(text);
    if (ttl && ttl->count() < 0) std::abort();
  } catch (const verrou::InvalidArgumentError&) {
  }
  return 0;
}
