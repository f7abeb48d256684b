// SPDX-License-Identifier: Apache-2.0
#include "verrou/logger.hpp"

#include <ostream>
#include <string>

namespace verrou {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

std::shared_ptr<Logger> null_logger() {
  static const auto instance = std::make_shared<NullLogger>();
  return instance;
}

StreamLogger::StreamLogger(std::ostream& out, LogLevel min_level)
    : out_(out), min_level_(min_level) {}

bool StreamLogger::enabled(LogLevel level) const noexcept { return level >= min_level_; }

void StreamLogger::log(LogLevel level, std::string_view message,
                       std::initializer_list<LogField> fields) noexcept {
  if (!enabled(level)) return;
  try {
    std::string line = "verrou ";
    line += to_string(level);
    line += "  ";
    line += message;
    for (const auto& field : fields) {
      line += "  ";
      line += field.name;
      line += '=';
      line += field.value;
    }
    line += '\n';
    const std::lock_guard lock(mutex_);
    out_ << line << std::flush;
  } catch (...) {  // logging must never break locking
  }
}

}  // namespace verrou
