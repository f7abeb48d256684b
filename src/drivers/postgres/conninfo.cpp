// SPDX-License-Identifier: Apache-2.0
#include "drivers/postgres/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail::pg {
namespace {

constexpr std::string_view kHidden = "***";

struct Keywords {
  std::set<std::string, std::less<>> all;     // every keyword libpq knows
  std::set<std::string, std::less<>> shown;   // those whose values are not secret
};

// libpq's own list: keywords whose values it marks as secret (`dispchar` "*": password,
// sslpassword) are hidden, and so are the values of keywords it does not know (a misspelt
// `pasword=` is likely a password).
const Keywords& keywords() {
  static const Keywords k = [] {
    Keywords out;
    if (PQconninfoOption* d = PQconndefaults()) {
      for (auto* o = d; o->keyword != nullptr; ++o) {
        out.all.emplace(o->keyword);
        const bool secret = o->dispchar != nullptr && std::string_view(o->dispchar) == "*";
        if (!secret) out.shown.emplace(o->keyword);
      }
      PQconninfoFree(d);
    }
    return out;
  }();
  return k;
}

bool shown(std::string_view keyword) {
  return keywords().shown.find(keyword) != keywords().shown.end();
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Where the value of the first `…password` keyword followed by '=' (spaces allowed around
// it, any case) begins in `s`; npos when there is none.
std::size_t secret_assignment(std::string_view s) {
  constexpr std::string_view kWord = "password";
  for (std::size_t i = 0; i + kWord.size() <= s.size(); ++i) {
    if (!starts_with_ignoring_case(s.substr(i), kWord)) continue;
    std::size_t j = i + kWord.size();
    while (j < s.size() && is_space(s[j])) ++j;
    if (j < s.size() && s[j] == '=') return j + 1;
  }
  return std::string_view::npos;
}

// key=value pairs, as libpq reads them: spaces around '=', values plain or in single quotes,
// a backslash escaping the next character in both.
std::string redact_pairs(std::string_view s) {
  std::string out;
  bool after_plain_secret = false;  // an unquoted secret came before: it may go on here
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    while (i < s.size() && is_space(s[i])) ++i;
    out.append(s.substr(start, i - start));
    if (i == s.size()) break;
    const std::size_t key_begin = i;
    while (i < s.size() && !is_space(s[i]) && s[i] != '=') ++i;
    const std::string_view keyword = s.substr(key_begin, i - key_begin);
    std::size_t j = i;
    while (j < s.size() && is_space(s[j])) ++j;
    const bool known = keywords().all.find(keyword) != keywords().all.end();
    if (j == s.size() || s[j] != '=' || (after_plain_secret && !known)) {
      // Not a pair, or an unknown name after an unquoted secret: it may be the tail of an
      // unquoted value with spaces (a password).
      out.append("…");
      return out;
    }
    ++j;
    while (j < s.size() && is_space(s[j])) ++j;
    std::size_t value_end = j;
    if (value_end < s.size() && s[value_end] == '\'') {
      ++value_end;
      bool closed = false;
      while (value_end < s.size()) {
        if (s[value_end] == '\\' && value_end + 1 < s.size()) {
          value_end += 2;
        } else if (s[value_end] == '\'') {
          ++value_end;
          closed = true;
          break;
        } else {
          ++value_end;
        }
      }
      if (!closed) {
        out.append(s.substr(key_begin, j - key_begin));
        out.append(shown(keyword) ? "…" : kHidden);
        return out;
      }
    } else {
      while (value_end < s.size() && !is_space(s[value_end])) {
        value_end += (s[value_end] == '\\' && value_end + 1 < s.size()) ? 2U : 1U;
      }
      if (!shown(keyword)) after_plain_secret = true;
    }
    out.append(s.substr(key_begin, j - key_begin));
    const std::string_view value = s.substr(j, value_end - j);
    // A value that itself reads "password=…" (a missing value before it) is hidden too.
    if (shown(keyword) && secret_assignment(value) == std::string_view::npos) {
      out.append(value);
    } else {
      out.append(kHidden);
    }
    i = value_end;
  }
  return out;
}

// postgres:// and postgresql:// URIs. The user information ends at the last '@' anywhere
// (libpq's own reading stops at the first '@' before a '/', but a password holding an
// unencoded '/' or '@' must not leak either). Then everything after a `password=` anywhere
// is hidden (in the query, or pasted from key=value pairs), and the query shows only the
// values of libpq keywords that are not secret.
std::string redact_uri(std::string_view s, std::size_t authority_begin) {
  std::string rest(s.substr(authority_begin));
  const auto at = rest.rfind('@');
  const auto colon = rest.find(':');
  if (at != std::string::npos && colon < at) {
    rest.replace(colon + 1, at - colon - 1, kHidden);
  }
  bool cut = false;
  if (const auto secret = secret_assignment(rest); secret != std::string::npos) {
    rest.resize(secret);
    cut = true;
  }
  std::string out(s.substr(0, authority_begin));
  const auto question = rest.find('?');
  out.append(rest.substr(0, question));
  if (question != std::string::npos) {
    out.push_back('?');
    std::string_view query = std::string_view(rest).substr(question + 1);
    bool first = true;
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view param = query.substr(0, amp);
      const auto eq = param.find('=');
      const std::string_view name = param.substr(0, eq);
      if (!first) out.push_back('&');
      first = false;
      out.append(name);
      if (eq != std::string_view::npos) {
        out.push_back('=');
        const std::string_view value = param.substr(eq + 1);
        if (!shown(name)) {
          // An unencoded '&' may have cut a secret in two: hide everything that follows too.
          out.append(kHidden);
          if (amp != std::string_view::npos || cut) out.append("&…");
          return out;
        }
        out.append(value);
      }
      if (amp == std::string_view::npos) break;
      query = query.substr(amp + 1);
    }
  }
  if (cut) out.append(kHidden);
  return out;
}

}  // namespace

std::string redact_conninfo(std::string_view conninfo) {
  try {
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
      if (starts_with_ignoring_case(conninfo, scheme)) {
        return redact_uri(conninfo, scheme.size());
      }
    }
    return redact_pairs(conninfo);
  } catch (...) {
    return "<connection string>";
  }
}

std::string redact_parse_error(std::string_view message, bool show_unknown_keywords) {
  try {
    // An unknown keyword is quoted once libpq has read its '=': a name, not a value — unless
    // it followed an unquoted password with spaces ("password=a b=c").
    constexpr std::string_view kUnknown = "invalid connection option \"";
    if (show_unknown_keywords && message.substr(0, kUnknown.size()) == kUnknown) {
      return std::string(message);
    }
    // libpq's own quoted words, kept aside while every piece of input goes.
    static constexpr std::string_view kOwn[] = {
        "missing \"=\" after ", "key/value separator \"=\" in", "matching \"]\" in"};
    std::string text(message);
    for (std::size_t k = 0; k < std::size(kOwn); ++k) {
      const auto at = text.find(kOwn[k]);
      if (at != std::string::npos) text.replace(at, kOwn[k].size(), std::string(1, char(k + 1)));
    }
    // Whatever lies between the first and the last remaining quote came from the input (a
    // piece of it may itself hold quotes): one "…" for all of it.
    const auto first = text.find('"');
    const auto last = text.rfind('"');
    if (first != std::string::npos) {
      text.replace(first, last == first ? std::string::npos : last - first + 1, "\"…\"");
    }
    for (std::size_t k = 0; k < std::size(kOwn); ++k) {
      const auto at = text.find(char(k + 1));
      if (at != std::string::npos) text.replace(at, 1, kOwn[k]);
    }
    return text;
  } catch (...) {
    return "the connection string does not parse";
  }
}

std::string server_of(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    const std::string lowered = ascii_lower(conninfo);
    const bool has_password = lowered.find("password") != std::string::npos;
    std::string why = err != nullptr ? redact_parse_error(err, !has_password) : "out of memory";
    if (err != nullptr) PQfreemem(err);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw InvalidArgumentError("invalid PostgreSQL connection string (" +
                               redact_conninfo(conninfo) + "): " + why +
                               "; expected a postgres:// URI or key=value pairs");
  }
  std::string host = "localhost";
  std::string port = "5432";
  for (auto* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view keyword(o->keyword);
    if (keyword == "host" || keyword == "hostaddr") host = o->val;
    if (keyword == "port") port = o->val;
  }
  PQconninfoFree(parsed);
  return host + ":" + port;
}

}  // namespace verrou::detail::pg
