// SPDX-License-Identifier: Apache-2.0
// The URL grammar shared by open_store and the drivers' `from_url` functions.
//
//   scheme:opaque                      memory:   sqlite::memory:
//   scheme://[user[:pass]@]host[:port][,host[:port]…][/path][?name=value&…]
//
// Hosts may be IPv6 literals in brackets. User, password, path and query parts are
// percent-decoded. Parsing never throws anything but InvalidArgumentError.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace verrou::detail {

struct HostPort {
  std::string host;                    // without brackets for IPv6
  std::optional<std::uint16_t> port;   // nullopt: the scheme's default
};

struct Url {
  std::string scheme;                  // lower case
  bool has_authority = false;          // "//" followed the scheme
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::vector<HostPort> hosts;         // empty when the authority had no host
  std::string path;                    // decoded; starts with '/' when present
  std::string opaque;                  // what follows "scheme:" when there is no "//"
  std::vector<std::pair<std::string, std::string>> query;

  // The value of query parameter `name`, if given (the last one wins).
  [[nodiscard]] std::optional<std::string> param(std::string_view name) const;
  // Throws InvalidArgumentError when a parameter not in `known` is present: a typo in a
  // URL option must not be ignored silently.
  void check_params(std::initializer_list<std::string_view> known) const;
};

// Parses `text`; throws InvalidArgumentError naming the problem (the password never appears).
Url parse_url(std::string_view text);

// Decodes %XX escapes; throws InvalidArgumentError for a bad escape. `what` names the part.
std::string percent_decode(std::string_view text, std::string_view what);

// `text` with every secret replaced by "***" (src/core/redact.cpp); see verrou::redact_url.
std::string redact_url_text(std::string_view text);

// Reads a boolean URL option: 1/0, true/false, yes/no, on/off.
bool parse_bool_param(std::string_view name, std::string_view value);

}  // namespace verrou::detail
