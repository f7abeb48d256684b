// SPDX-License-Identifier: Apache-2.0
// Small text helpers shared by the core and the drivers: quoting user-supplied text (keys,
// owners) into messages, UTF-8 validation, ASCII case folding, trimming, hexadecimal.
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


// True when `s` is valid UTF-8: no stray continuation bytes, no truncated sequence, no overlong
// forms, no surrogates, nothing past U+10FFFF. NUL (U+0000) is valid UTF-8.
inline bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
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
    if (len > s.size() - i) return false;
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

// True when `s` is valid UTF-8 without NUL bytes. The SQL stores keep keys and owners in text
// columns, which refuse (PostgreSQL), mangle (MySQL) or cannot hold (NUL) anything else.
inline bool is_utf8_text(std::string_view s) {
  return s.find('\0') == std::string_view::npos && is_utf8(s);
}

// `c` in lower case when it is an ASCII letter, otherwise unchanged.
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `s` with ASCII letters in lower case (other bytes untouched): for names compared without
// regard to case (URL schemes, backend and dialect names, connection-string keys).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// True when `s` begins with `prefix`, ASCII letters compared without regard to case.
constexpr bool starts_with_ignoring_case(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (ascii_lower(s[i]) != ascii_lower(prefix[i])) return false;
  }
  return true;
}

// True when `c` is a space, a tab or a line break (the white space of configuration files and
// client libraries' messages; never locale-dependent).
constexpr bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// `s` without the white space (`is_blank`) at both ends.
constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// `s` without the spaces, tabs and line breaks at its end (client libraries end their error
// messages with a newline).
inline std::string trim_end(std::string s) {
  while (!s.empty() && is_blank(s.back())) s.pop_back();
  return s;
}

// The bytes of `data` as lower-case hexadecimal, two digits a byte (digests, random tokens).
inline std::string to_hex(const unsigned char* data, std::size_t size) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4U];
    out[2 * i + 1] = kHex[data[i] & 0xfU];
  }
  return out;
}

}  // namespace verrou::detail
