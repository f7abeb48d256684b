// SPDX-License-Identifier: Apache-2.0
// Small text helpers shared by the core and the drivers: quoting user-supplied text (keys,
// owners) into messages, UTF-8 validation, ASCII case folding, trimming.
#pragma once

#include <cstddef>
#include <cstdint>
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


// True when `s` is valid UTF-8 without NUL bytes: no stray continuation bytes, no overlong
// forms, no surrogates, nothing past U+10FFFF. The SQL stores keep keys and owners in text
// columns, which refuse (PostgreSQL), mangle (MySQL) or cannot hold (NUL) anything else.
inline bool is_utf8_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0U) == 0xC0U) {
      len = 2;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      len = 3;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      len = 4;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) return false;
      cp = (cp << 6U) | (cc & 0x3FU);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

// `s` with ASCII letters in lower case (other bytes untouched): for names compared without
// regard to case (URL schemes, backend and dialect names, connection-string keys).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// `s` without the spaces, tabs and line breaks at its end (client libraries end their error
// messages with a newline).
inline std::string trim_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' ||
                        s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

}  // namespace verrou::detail
