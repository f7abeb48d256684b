// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/lock_value.hpp"

#include <charconv>

namespace verrou::detail::etcd {
namespace {

constexpr std::string_view kMagic = "verrou-lock/1 ";
constexpr std::string_view kNever = "never";

}  // namespace

std::string encode_lock(const LockRecord& record) {
  std::string out(kMagic);
  out += record.expires_at_ms ? std::to_string(*record.expires_at_ms) : std::string(kNever);
  out += ' ';
  out += record.write_id;
  out += '\n';
  out += record.owner;
  return out;
}

std::optional<LockRecord> decode_lock(std::string_view value) {
  if (value.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  value.remove_prefix(kMagic.size());
  const auto newline = value.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  const std::string_view head = value.substr(0, newline);
  const auto space = head.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view expires = head.substr(0, space);
  LockRecord record;
  record.write_id = std::string(head.substr(space + 1));
  record.owner = std::string(value.substr(newline + 1));
  if (record.write_id.empty() || record.write_id.find(' ') != std::string::npos) return std::nullopt;
  if (expires != kNever) {
    std::int64_t ms = 0;
    const auto [ptr, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), ms);
    if (expires.empty() || ec != std::errc() || ptr != expires.data() + expires.size()) {
      return std::nullopt;
    }
    record.expires_at_ms = ms;
  }
  return record;
}

}  // namespace verrou::detail::etcd
