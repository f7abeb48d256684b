// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>

#include "detail/owner.hpp"

namespace verrou::detail {
namespace {

TEST(OwnerToken, Is128BitsAsLowerCaseHex) {
  for (int i = 0; i < 1000; ++i) {
    const auto token = new_owner_token();
    ASSERT_EQ(token.size(), 32U);
    for (char c : token) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << token;
  }
}

TEST(OwnerToken, NeverRepeatsAcrossThreads) {
  std::set<std::string> seen;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 20000; ++i) mine.push_back(new_owner_token());
      const std::lock_guard lock(mutex);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 80000U);
}

TEST(OwnerToken, ForkedChildDoesNotRepeatItsParent) {
  (void)new_owner_token();  // fill this thread's buffer before forking
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const auto token = new_owner_token();
    (void)!write(fds[1], token.data(), token.size());
    _exit(0);
  }
  close(fds[1]);
  const auto parent_token = new_owner_token();
  char buffer[32];
  ASSERT_EQ(read(fds[0], buffer, sizeof buffer), 32);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_NE(std::string(buffer, 32), parent_token);
}

}  // namespace
}  // namespace verrou::detail
