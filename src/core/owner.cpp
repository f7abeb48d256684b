// SPDX-License-Identifier: Apache-2.0
#include "detail/owner.hpp"

#include <pthread.h>
#include <sys/random.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {
namespace {

constexpr std::size_t kTokenBytes = 16;        // 128 bits
constexpr std::size_t kBufferBytes = 64 * kTokenBytes;

// Bumped in the child after fork(): every thread's buffer then counts as used, so a child
// never reuses randomness its parent also holds.
std::atomic<std::uint64_t> fork_generation{0};

void on_fork_child() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct ForkHandlerInstaller {
  ForkHandlerInstaller() { pthread_atfork(nullptr, nullptr, &on_fork_child); }
};

void fill_from_kernel(unsigned char* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = getrandom(out + done, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw LockStorageError(std::string("cannot read random bytes for an owner token: getrandom: ") +
                             std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

struct TokenBuffer {
  std::array<unsigned char, kBufferBytes> bytes{};
  std::size_t used = kBufferBytes;
  std::uint64_t generation = 0;
};

}  // namespace

std::string new_owner_token() {
  static const ForkHandlerInstaller installer;
  thread_local TokenBuffer buffer;
  const auto generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.used + kTokenBytes > kBufferBytes || buffer.generation != generation) {
    fill_from_kernel(buffer.bytes.data(), buffer.bytes.size());
    buffer.used = 0;
    buffer.generation = generation;
  }
  std::string token = to_hex(buffer.bytes.data() + buffer.used, kTokenBytes);
  // Wipe what was handed out, so the buffer never holds a token already in use.
  std::memset(buffer.bytes.data() + buffer.used, 0, kTokenBytes);
  buffer.used += kTokenBytes;
  return token;
}

}  // namespace verrou::detail
