// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/lock_value.hpp"

#include <charconv>

namespace verrou::detail::etcd {
namespace {

constexpr std::string_view kMagic = "verrou-lock/1 ";
constexpr std::string_view kPermitMagic = "verrou-permit/1 ";
constexpr std::string_view kNever = "never";

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

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
    if (!parse_number(expires, ms)) return std::nullopt;
    record.expires_at_ms = ms;
  }
  return record;
}

std::string encode_permit(const PermitRecord& record) {
  // The lock form with the limit before the write id: "<expires> <limit> <write id>".
  LockRecord shaped = record.lease;
  shaped.write_id = std::to_string(record.limit) + " " + record.lease.write_id;
  std::string out(kPermitMagic);
  out += encode_lock(shaped).substr(kMagic.size());
  return out;
}

std::optional<PermitRecord> decode_permit(std::string_view value) {
  if (value.substr(0, kPermitMagic.size()) != kPermitMagic) return std::nullopt;
  const auto newline = value.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  // "<expires> <limit> <write id>": take the limit out, then read the rest as a lock.
  std::string_view head = value.substr(kPermitMagic.size(), newline - kPermitMagic.size());
  const auto first = head.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = head.find(' ', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  PermitRecord out;
  if (!parse_number(head.substr(first + 1, second - first - 1), out.limit) || out.limit == 0) {
    return std::nullopt;
  }
  std::string as_lock(kMagic);
  as_lock += head.substr(0, first);
  as_lock += head.substr(second);
  as_lock += value.substr(newline);
  auto lease = decode_lock(as_lock);
  if (!lease) return std::nullopt;
  out.lease = std::move(*lease);
  return out;
}

}  // namespace verrou::detail::etcd
