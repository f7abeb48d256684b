// SPDX-License-Identifier: Apache-2.0
// Hiding secrets in store URLs and connection strings before they reach a message or a log.
//
// A secret can sit in many places of the text a store accepts:
//   - the userinfo of a URL, `scheme://user:secret@host` (also of a URL inside another one:
//     a SOCI connection string in URI form, a DynamoDB endpoint with credentials);
//   - a query parameter, `?password=secret`, `&secret_access_key=…`;
//   - a key=value pair of a libpq conninfo, SOCI or ODBC connection string, quoted or not:
//     `password=secret`, `password = 'a b'`, `PWD={x;y}`, inside a URL path or not;
// and every character of these may be percent-encoded (`pass%77ord%3Dsecret`). The text is
// read as a sequence of characters where a valid %XX escape counts as the character it
// encodes, the secrets are found in that sequence, and each is replaced, in the original
// text, by "***". Where the text is malformed and a secret's end cannot be known, more is
// hidden rather than less.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/text.hpp"
#include "detail/url.hpp"

namespace verrou::detail {
namespace {

constexpr std::size_t kMaxRedactedLength = 8192;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// One character of the text as parsers see it: a raw byte, or a %XX escape decoded.
struct Unit {
  char c;
  std::size_t begin;  // in the original text
  std::size_t end;
  bool raw;  // not percent-encoded
};

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_key_char(char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.'; }

// "scheme:…": a URL, whose parts are percent-decoded by its parser. A bare connection string
// (libpq conninfo, ODBC) is read as it is: "%20" there is three characters.
bool is_url(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (is_alpha(text[i]) || (i > 0 && (is_digit(text[i]) || text[i] == '+' ||
                                                          text[i] == '-' || text[i] == '.')))) {
    ++i;
  }
  return i > 0 && i < text.size() && text[i] == ':';
}

std::vector<Unit> units_of(std::string_view text, bool decode) {
  std::vector<Unit> out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (decode && text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 &&
        hex(text[i + 2]) >= 0) {
      out.push_back({static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])), i, i + 3, false});
      i += 3;
    } else {
      out.push_back({text[i], i, i + 1, true});
      ++i;
    }
  }
  return out;
}

// Names of parameters whose value is secret: any name containing one of these (so `password`,
// `sslpassword`, `PWD`, `secret_access_key`, `session_token`, `auth`…).
bool secret_name(const std::string& lowered) {
  static constexpr std::array<std::string_view, 6> kParts = {"pass", "pwd", "secret", "token",
                                                             "auth", "credential"};
  return std::any_of(kParts.begin(), kParts.end(), [&](std::string_view part) {
    return lowered.find(part) != std::string::npos;
  });
}

class Redactor {
 public:
  explicit Redactor(std::string_view text) : text_(text), u_(units_of(text, is_url(text))) {
    // A URL ("scheme:" first): its query starts at the first raw '?'.
    if (is_url(text)) {
      const std::size_t i = text.find(':');
      for (std::size_t k = i; k < u_.size(); ++k) {
        if (u_[k].raw && u_[k].c == '?') {
          query_ = k;
          break;
        }
      }
      if (raw_is(i + 1, '/') && raw_is(i + 2, '/')) {
        authority_begin_ = i + 3;
        authority_end_ = authority_begin_;
        while (authority_end_ < u_.size() && !raw_is(authority_end_, '/') &&
               !raw_is(authority_end_, '?') && !raw_is(authority_end_, '#')) {
          ++authority_end_;
        }
      }
    }
  }

  std::string run() {
    find_userinfo();
    find_parameters();
    std::sort(spans_.begin(), spans_.end());
    std::string out;
    std::size_t at = 0;  // next original byte to copy
    for (const auto& [first, last] : spans_) {
      const std::size_t begin = u_[first].begin;
      const std::size_t end = u_[last - 1].end;
      if (end <= at) continue;
      if (begin > at) out.append(text_.substr(at, begin - at));
      if (begin >= at) out += "***";
      at = end;
    }
    out.append(text_.substr(std::min(at, text_.size())));
    return out;
  }

 private:
  [[nodiscard]] bool raw_is(std::size_t i, char c) const {
    return i < u_.size() && u_[i].raw && u_[i].c == c;
  }
  [[nodiscard]] bool in_query(std::size_t i) const { return query_ != kNone && i > query_; }

  // Whether unit `i` of the query is in a parameter's value (after its '='), not its name.
  [[nodiscard]] bool in_query_value(std::size_t i) const {
    for (std::size_t k = i; k > query_; --k) {
      if (raw_is(k, '&')) return false;
      if (raw_is(k, '=')) return true;
    }
    return false;
  }

  void add(std::size_t first, std::size_t last) {
    if (first < last && last <= u_.size()) spans_.emplace_back(first, last);
  }

  // host[:port] or [v6][:port], comma-separated; empty is fine. `raw`: only raw separators
  // count (the URL's own authority, as its parser reads it: a %3A is part of a name).
  [[nodiscard]] bool host_list(std::size_t first, std::size_t last, bool raw) const {
    auto is = [&](std::size_t k, char c) { return raw ? raw_is(k, c) : u_[k].c == c; };
    std::size_t i = first;
    while (i < last) {
      if (is(i, '[')) {
        while (i < last && !is(i, ']')) ++i;
        if (i == last) return false;
        ++i;
      } else {
        while (i < last && !is(i, ':') && !is(i, ',')) {
          if (is(i, '@')) return false;
          ++i;
        }
      }
      if (i < last && is(i, ':')) {
        const std::size_t digits = ++i;
        while (i < last && u_[i].raw && is_digit(u_[i].c)) ++i;
        if (i == digits) return false;
      }
      if (i < last && !is(i, ',')) return false;
      if (i < last) ++i;
    }
    return true;
  }

  // `scheme://user:secret@host`, wherever a "://" appears. For the URL itself, its raw
  // separators count (as for the parser: a %40 is part of the password); for a URL inside
  // another, percent-encoded there, its decoded ones.
  void find_userinfo() {
    for (std::size_t i = 0; i + 2 < u_.size(); ++i) {
      if (u_[i].c != ':' || u_[i + 1].c != '/' || u_[i + 2].c != '/') continue;
      const std::size_t begin = i + 3;
      const bool outer = begin == authority_begin_;
      auto is = [&](std::size_t k, char c) { return outer ? raw_is(k, c) : u_[k].c == c; };
      const bool embedded_in_query = in_query(i);
      if (embedded_in_query && !in_query_value(i)) continue;  // in a parameter's name
      // The URL itself ends at a raw blank (a %20 belongs to it); one inside a connection
      // string at a decoded one, one inside a query parameter at the next raw '&'.
      std::size_t segment_end = begin;
      while (segment_end < u_.size() &&
             !(outer ? u_[segment_end].raw && is_space(u_[segment_end].c)
                     : is_space(u_[segment_end].c)) &&
             !(embedded_in_query && raw_is(segment_end, '&')) &&
             !(!outer && !embedded_in_query && segment_end == query_)) {
        ++segment_end;
      }
      std::size_t authority_end = begin;
      while (authority_end < segment_end && !is(authority_end, '/') && !is(authority_end, '?') &&
             !is(authority_end, '#')) {
        ++authority_end;
      }
      std::size_t at = kNone;
      for (std::size_t k = begin; k < authority_end; ++k) {
        if (is(k, '@')) at = k;
      }
      if (at == kNone) {
        // No '@' in the authority: unless it is a plain host list, it is a malformed URL (quoted
        // in the error about it) whose password may hold a raw '/', '?' or '#' (then an '@'
        // further on ends it) or whose host is missing: hide from its first ':' to the last
        // '@', or to the end of the authority.
        if (host_list(begin, authority_end, outer)) continue;
        for (std::size_t k = authority_end; k < segment_end; ++k) {
          if (u_[k].c == '@') at = k;
        }
        if (at == kNone) {
          if (!outer) continue;  // inside another text, "a:b" without '@' is no userinfo
          at = authority_end;
        }
      }
      for (std::size_t k = begin; k < at; ++k) {
        if (is(k, ':')) {
          add(k + 1, at);
          break;
        }
      }
    }
  }

  // `name=value` where the name says secret, in a query, a conninfo or an ODBC string.
  void find_parameters() {
    for (std::size_t k = 0; k < u_.size(); ++k) {
      if (!is_key_char(u_[k].c) || (k > 0 && is_key_char(u_[k - 1].c))) continue;
      std::size_t e = k;
      std::string name;
      while (e < u_.size() && is_key_char(u_[e].c)) name += ascii_lower(u_[e++].c);
      std::size_t j = e;
      while (j < u_.size() && is_space(u_[j].c)) ++j;
      if (j >= u_.size() || u_[j].c != '=' || !secret_name(name)) {
        k = e - 1;
        continue;
      }
      std::size_t value = j + 1;
      const std::size_t end = value_end(k, value);
      while (value < end && is_space(u_[value].c)) ++value;
      add(value, end);
      k = std::max(k, end == 0 ? k : end - 1);
    }
  }

  // Where the value starting at `value` of the parameter named at `key` ends (exclusive).
  [[nodiscard]] std::size_t value_end(std::size_t key, std::size_t value) const {
    // A parameter of the URL's own query: the value runs to the next raw '&'.
    const bool query_parameter = in_query(key) && key > 0 && (raw_is(key - 1, '?') || raw_is(key - 1, '&'));
    if (query_parameter) {
      std::size_t i = value;
      while (i < u_.size() && !raw_is(i, '&') && !raw_is(i, '#')) ++i;
      return i;
    }
    // Connection strings: a quoted value to its closing quote, else to the next blank. Inside
    // a URL, the raw '?' of its query and, in the query, a raw '&' end it too.
    // In the authority of the URL (`scheme://pass=x@host`, a user name as odd as that), the
    // userinfo and host separators too: the host is no secret, and the userinfo's own
    // password is found by find_userinfo.
    const bool in_authority = key >= authority_begin_ && key < authority_end_;
    auto stops = [&](std::size_t i) {
      return (query_ != kNone && i == query_) || (in_query(key) && raw_is(i, '&')) ||
             (in_authority && (i >= authority_end_ || raw_is(i, '@') || raw_is(i, ':') ||
                               raw_is(i, ',')));
    };
    std::size_t i = value;
    while (i < u_.size() && is_space(u_[i].c) && !stops(i)) ++i;
    // Quoted or braced values end at their closing quote or brace, but never past what ends
    // the URL part they are in (a raw '&' of the query parameter holding them).
    if (i < u_.size() && (u_[i].c == '\'' || u_[i].c == '"')) {
      const char quote = u_[i].c;
      for (++i; i < u_.size() && !stops(i); ++i) {
        if (u_[i].c == '\\' && quote == '\'') {
          if (i + 1 < u_.size() && stops(i + 1)) return i + 1;
          ++i;
        } else if (u_[i].c == quote) {
          return i + 1;
        }
      }
      return std::min(i, u_.size());
    }
    if (i < u_.size() && u_[i].c == '{') {
      for (++i; i < u_.size() && !stops(i); ++i) {
        if (u_[i].c != '}') continue;
        if (i + 1 < u_.size() && u_[i + 1].c == '}') {
          ++i;
          continue;
        }
        return i + 1;
      }
      return std::min(i, u_.size());
    }
    while (i < u_.size() && !is_space(u_[i].c) && !stops(i)) ++i;
    return i;
  }

  std::string_view text_;
  std::vector<Unit> u_;
  std::size_t query_ = kNone;            // the raw '?' that starts the URL's query
  std::size_t authority_begin_ = kNone;  // the URL's authority, when it has one
  std::size_t authority_end_ = kNone;
  std::vector<std::pair<std::size_t, std::size_t>> spans_;  // units [first, last)
};

}  // namespace

std::string redact_url_text(std::string_view text) {
  try {
    return Redactor(text.substr(0, kMaxRedactedLength)).run();
  } catch (...) {
    return "<url>";
  }
}

}  // namespace verrou::detail
