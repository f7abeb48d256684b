// SPDX-License-Identifier: Apache-2.0
//
// logger.hpp: the small logging interface the library reports through.
//
// The default logger drops everything. To see what locks do, pass a logger to `Verrou` or
// `LockFactory`; `verrou/loggers/spdlog.hpp` adapts spdlog, and `StreamLogger` writes lines
// to a stream:
//
//   verrou::LockFactory locks(store, {.logger = std::make_shared<verrou::StreamLogger>(
//                                         std::cerr, verrou::LogLevel::debug)});
//   // debug  Lock acquired  key=invoice:42
#pragma once

#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "verrou/export.hpp"

namespace verrou {

/// Severity of a log record, lowest first.
enum class LogLevel { trace, debug, info, warn, error };

/// The name of a level: "trace", "debug", "info", "warn", "error".
VERROU_EXPORT std::string_view to_string(LogLevel level) noexcept;

/// One key/value detail of a log record.
struct LogField {
  std::string_view name{};  ///< e.g. "key"
  std::string value{};      ///< rendered value
};

/// Where the library's log records go. Implementations must not throw from `log`; the
/// library calls it from any thread. Thread safety: implementations must be thread-safe.
class VERROU_EXPORT Logger {
 public:
  virtual ~Logger() = default;

  /// Whether records of `level` are wanted; the library skips building them otherwise.
  [[nodiscard]] virtual bool enabled(LogLevel level) const noexcept = 0;

  /// Records `message` with its fields.
  virtual void log(LogLevel level, std::string_view message,
                   std::initializer_list<LogField> fields) noexcept = 0;
};

/// The default logger: wants nothing, records nothing. Thread safety: stateless.
class VERROU_EXPORT NullLogger final : public Logger {
 public:
  [[nodiscard]] bool enabled(LogLevel) const noexcept override { return false; }
  void log(LogLevel, std::string_view, std::initializer_list<LogField>) noexcept override {}
};

/// The process-wide no-op logger instance.
VERROU_EXPORT std::shared_ptr<Logger> null_logger();

/// Writes `level  message  name=value …` lines to a stream, for records at or above
/// `min_level`. Thread safety: lines from several threads never interleave.
class VERROU_EXPORT StreamLogger final : public Logger {
 public:
  explicit StreamLogger(std::ostream& out, LogLevel min_level = LogLevel::info);
  [[nodiscard]] bool enabled(LogLevel level) const noexcept override;
  void log(LogLevel level, std::string_view message,
           std::initializer_list<LogField> fields) noexcept override;

 private:
  std::ostream& out_;
  LogLevel min_level_;
  std::mutex mutex_;
};

}  // namespace verrou
