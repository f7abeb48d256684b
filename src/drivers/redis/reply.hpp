// SPDX-License-Identifier: Apache-2.0
// RESP on the wire: commands formatted (arrays of bulk strings), replies parsed with hiredis
// (0.14 or 1.x) and copied into plain C++ values.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace verrou::detail::redis {

/// One RESP reply.
struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;              ///< string, status or error text
  long long integer = 0;        ///< integer
  std::vector<Reply> elements;  ///< array

  [[nodiscard]] bool is_error() const { return type == Type::kError; }
  [[nodiscard]] bool error_starts_with(std::string_view prefix) const {
    return type == Type::kError && std::string_view(str).substr(0, prefix.size()) == prefix;
  }
  /// The error's code ("READONLY", "MOVED"…), also when a script's `redis.call` raised it
  /// (Redis 6 words those "ERR Error running script … -READONLY …"); empty for other replies.
  [[nodiscard]] std::string_view error_code() const;
  /// For messages: `(error) WRONGTYPE …`, `(integer) 1`, `"text"`…
  [[nodiscard]] std::string describe() const;
};

/// Appends `args` to `out` as one RESP command (an array of bulk strings).
/// Throws std::bad_alloc.
void append_command(std::string& out, std::initializer_list<std::string_view> args);
void append_command(std::string& out, const std::vector<std::string>& args);
void append_command(std::string& out, const std::vector<std::string_view>& args);

/// Commands to send back to back, already in RESP.
struct Commands {
  std::string payload;
  std::size_t count = 0;  ///< commands in `payload`: one reply each

  void add(std::initializer_list<std::string_view> args) {
    append_command(payload, args);
    ++count;
  }
  void add(const std::vector<std::string>& args) {
    append_command(payload, args);
    ++count;
  }
};

/// The RESP parser, refusing array replies announcing more than kMaxReplyElements elements
/// (hiredis would allocate the element table before any element arrives).
/// Thread safety: none; one per connection.
class ReplyReader {
 public:
  static constexpr long long kMaxReplyElements = 1 << 20;

  ReplyReader();  // throws std::bad_alloc
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  /// Adds bytes received. Returns false when the parser refuses them (then see `error`).
  bool feed(const char* data, std::size_t size);
  /// The next complete reply, if one has been received. Throws std::runtime_error (the
  /// protocol error) for a malformed reply: the connection is then unusable.
  std::optional<Reply> next();

 private:
  redisReader* reader_ = nullptr;
};

}  // namespace verrou::detail::redis
