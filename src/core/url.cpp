// SPDX-License-Identifier: Apache-2.0
#include "detail/url.hpp"

#include <algorithm>
#include <charconv>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {
namespace {

constexpr std::size_t kMaxUrlLength = 8192;

[[noreturn]] void bad_url(std::string_view text, const std::string& why) {
  throw InvalidArgumentError("invalid store URL \"" + redact_url_text(text) + "\": " + why);
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

HostPort parse_host(std::string_view original, std::string_view text) {
  HostPort result;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) bad_url(original, "an IPv6 address lacks its closing ']'");
    result.host = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad_url(original, "unexpected text after an IPv6 address");
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos) {
      if (text.find(':', colon + 1) != std::string_view::npos) {
        bad_url(original, "a host has several ':'; write IPv6 addresses in brackets, e.g. [::1]:6379");
      }
      port_text = text.substr(colon + 1);
      has_port = true;
      text = text.substr(0, colon);
    }
    result.host = percent_decode(text, "host");
  }
  if (result.host.empty()) bad_url(original, "a host name is empty");
  for (char c : result.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '@' || c == '?') {
      bad_url(original, "the host name \"" + result.host + "\" contains a character not allowed there");
    }
  }
  if (has_port) {
    unsigned value = 0;
    const auto* begin = port_text.data();
    const auto* end = begin + port_text.size();
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (port_text.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535) {
      // Quoted only when it is digits: in a malformed URL the "port" may be a password.
      const bool digits =
          !port_text.empty() && std::all_of(port_text.begin(), port_text.end(), is_digit);
      bad_url(original, digits ? "the port \"" + std::string(port_text.substr(0, 16)) +
                                     "\" is not a number from 1 to 65535"
                               : std::string("a port is not a number from 1 to 65535 (a password "
                                             "holding '/', '?' or '#' must be percent-encoded)"));
    }
    result.port = static_cast<std::uint16_t>(value);
  }
  return result;
}

void parse_query(std::string_view original, std::string_view text, Url& url) {
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto item = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    std::string name = percent_decode(item.substr(0, eq), "query parameter name");
    std::string value = eq == std::string_view::npos
                            ? std::string()
                            : percent_decode(item.substr(eq + 1), "query parameter value");
    if (name.empty()) bad_url(original, "a query parameter has no name");
    url.query.emplace_back(std::move(name), std::move(value));
  }
}

}  // namespace

std::string percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      throw InvalidArgumentError("invalid " + std::string(what) +
                                 " in URL: '%' must be followed by two hex digits");
    }
    const char decoded = static_cast<char>(high * 16 + low);
    if (decoded == '\0') {
      throw InvalidArgumentError("invalid " + std::string(what) + " in URL: it contains %00");
    }
    out += decoded;
    i += 2;
  }
  return out;
}

std::optional<std::string> Url::param(std::string_view name) const {
  std::optional<std::string> value;
  for (const auto& [n, v] : query) {
    if (n == name) value = v;
  }
  return value;
}

void Url::check_params(std::initializer_list<std::string_view> known) const {
  for (const auto& [name, value] : query) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (auto k : known) {
        if (!list.empty()) list += ", ";
        list += std::string(k);
      }
      throw InvalidArgumentError("unknown option \"" + name + "\" in a " + scheme + ": URL" +
                                 (list.empty() ? std::string("; it takes no options")
                                               : "; known options: " + list));
    }
  }
}

Url parse_url(std::string_view text) {
  if (text.empty()) bad_url(text, "it is empty");
  if (text.size() > kMaxUrlLength) bad_url(text.substr(0, 64), "it is longer than 8 KiB");
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      bad_url(text, "it contains a space or control character; percent-encode it (%20)");
    }
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(text.front())) {
    bad_url(text, "it does not start with a scheme such as redis://, postgres://, sqlite:// or memory:");
  }
  Url url;
  for (char c : text.substr(0, colon)) {
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
      bad_url(text, "the scheme contains a character other than letters, digits, '+', '-', '.'");
    }
  }
  url.scheme = ascii_lower(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 1);
  if (rest.find('#') != std::string_view::npos) {
    bad_url(text, "fragments ('#') are not used by store URLs; percent-encode '#' as %23");
  }
  const auto question = rest.find('?');
  std::string_view query_text;
  if (question != std::string_view::npos) {
    query_text = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  if (rest.substr(0, 2) == "//") {
    url.has_authority = true;
    rest.remove_prefix(2);
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    url.path = slash == std::string_view::npos ? std::string()
                                               : percent_decode(rest.substr(slash), "path");
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
      const auto userinfo = authority.substr(0, at);
      authority = authority.substr(at + 1);
      const auto userinfo_colon = userinfo.find(':');
      url.username = percent_decode(userinfo.substr(0, userinfo_colon), "user name");
      if (userinfo_colon != std::string_view::npos) {
        url.password = percent_decode(userinfo.substr(userinfo_colon + 1), "password");
      }
    }
    while (!authority.empty()) {
      const auto comma = authority.find(',');
      url.hosts.push_back(parse_host(text, authority.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      authority = authority.substr(comma + 1);
      if (authority.empty()) bad_url(text, "the host list ends with ','");
    }
  } else {
    url.opaque = percent_decode(rest, "URL");
  }
  parse_query(text, query_text, url);
  return url;
}

bool parse_bool_param(std::string_view name, std::string_view value) {
  const auto v = ascii_lower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on" || v.empty()) return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw InvalidArgumentError("invalid value \"" + std::string(value.substr(0, 32)) +
                             "\" for URL option \"" + std::string(name) +
                             "\": use true/false, 1/0, yes/no or on/off");
}

}  // namespace verrou::detail
