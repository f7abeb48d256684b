// SPDX-License-Identifier: Apache-2.0
//
// loggers/spdlog.hpp: routes the library's log records to an spdlog logger. Header-only, so
// the library itself does not depend on spdlog; include it where spdlog is available.
//
//   auto logger = verrou::spdlog_logger(spdlog::default_logger());
//   verrou::Verrou locks({.default_store = "memory",
//                         .stores = {{"memory", verrou::memory_store()}},
//                         .logger = logger});
//   // [debug] Lock acquired key=invoice:42
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <utility>

#include "verrou/logger.hpp"

namespace verrou {

/// A `Logger` writing to an spdlog logger; levels map one to one, fields follow the message
/// as `name=value`. Thread safety: as the spdlog logger (spdlog's `_mt` loggers are safe).
class SpdlogLogger final : public Logger {
 public:
  explicit SpdlogLogger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

  [[nodiscard]] bool enabled(LogLevel level) const noexcept override {
    return logger_ && logger_->should_log(to_spdlog(level));
  }

  void log(LogLevel level, std::string_view message,
           std::initializer_list<LogField> fields) noexcept override {
    try {
      std::string line(message);
      for (const auto& field : fields) {
        line.append(" ").append(field.name).append("=").append(field.value);
      }
      logger_->log(to_spdlog(level), "{}", line);
    } catch (...) {  // a logger must never break locking
    }
  }

 private:
  static spdlog::level::level_enum to_spdlog(LogLevel level) noexcept {
    switch (level) {
      case LogLevel::trace: return spdlog::level::trace;
      case LogLevel::debug: return spdlog::level::debug;
      case LogLevel::info: return spdlog::level::info;
      case LogLevel::warn: return spdlog::level::warn;
      case LogLevel::error: return spdlog::level::err;
    }
    return spdlog::level::info;
  }

  std::shared_ptr<spdlog::logger> logger_;
};

/// Makes a `Logger` over `logger`.
inline std::shared_ptr<Logger> spdlog_logger(std::shared_ptr<spdlog::logger> logger) {
  return std::make_shared<SpdlogLogger>(std::move(logger));
}

}  // namespace verrou
