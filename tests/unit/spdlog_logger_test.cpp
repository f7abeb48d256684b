// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "verrou/loggers/spdlog.hpp"
#include "verrou/verrou.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;

TEST(SpdlogLogger, RoutesLockRecordsWithTheirFields) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("verrou-test", sink);
  logger->set_pattern("[%l] %v");
  logger->set_level(spdlog::level::debug);
  LockFactory locks(std::make_shared<MemoryStore>(), {.logger = spdlog_logger(logger)});
  auto lock = locks.create_lock("invoice:7", 10s);
  ASSERT_TRUE(lock.acquire());
  lock.release();
  EXPECT_EQ(out.str(), "[debug] Lock acquired key=invoice:7\n[debug] Lock released key=invoice:7\n");

  logger->set_level(spdlog::level::info);
  EXPECT_FALSE(spdlog_logger(logger)->enabled(LogLevel::debug));
  EXPECT_TRUE(spdlog_logger(logger)->enabled(LogLevel::error));
}

}  // namespace
}  // namespace verrou
