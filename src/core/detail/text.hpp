// SPDX-License-Identifier: Apache-2.0
// Quoting user-supplied text (keys, owners) into error messages safely.
#pragma once

#include <string>
#include <string_view>

namespace verrou::detail {

// `text` in double quotes for a message: bytes outside printable ASCII as \xNN, and cut to
// `max_bytes` with "…" so a 10 kB key does not flood a log.
inline std::string quote(std::string_view text, std::size_t max_bytes = 80) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text.substr(0, max_bytes)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[u >> 4U];
      out += kHex[u & 0xfU];
    } else {
      out += c;
    }
  }
  if (text.size() > max_bytes) out += "…";
  out += '"';
  return out;
}

}  // namespace verrou::detail
