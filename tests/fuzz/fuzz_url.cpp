// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the store URL grammar (detail::parse_url, shared by open_store and every
// driver), verrou::redact_url, and the drivers' option readers that parse without
// connecting. Parsing throws nothing but InvalidArgumentError; redact_url never throws; and
// a URL that parses still parses once redacted, with the same user, hosts, path and options
// and its password shown only as "***".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "detail/url.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"
#ifdef VERROU_HAS_REDIS
#include "verrou/drivers/redis.hpp"
#endif
#ifdef VERROU_HAS_DYNAMODB
#include "verrou/drivers/dynamodb.hpp"
#endif

namespace {

void check_redaction(std::string_view text, const verrou::detail::Url& url) {
  const std::string redacted = verrou::redact_url(text);
  verrou::detail::Url again;
  try {
    again = verrou::detail::parse_url(redacted);
  } catch (const verrou::InvalidArgumentError&) {
    std::abort();  // redaction broke a valid URL
  }
  if (url.password && !url.password->empty()) {
    if (!again.password || *again.password != "***") std::abort();
  } else if (again.password && !again.password->empty() && *again.password != "***") {
    std::abort();
  }
  // A user name, host or path holding `name=value` pairs may hold a secret parameter, and a
  // path a URL with a password of its own (a SOCI connection string is the path), hidden
  // too; the rest must come through unchanged.
  auto has_pairs = [](const std::optional<std::string>& part) {
    return part && part->find('=') != std::string::npos;
  };
  if (again.scheme != url.scheme || again.hosts.size() != url.hosts.size() ||
      (!has_pairs(url.username) && again.username != url.username) ||
      (url.path.find('=') == std::string::npos && url.path.find("://") == std::string::npos &&
       again.path != url.path) ||
      again.query.size() != url.query.size()) {
    std::abort();
  }
  for (std::size_t i = 0; i < url.query.size(); ++i) {
    if (again.query[i].first != url.query[i].first) std::abort();
  }
  for (std::size_t i = 0; i < url.hosts.size(); ++i) {
    if (url.hosts[i].host.find('=') != std::string::npos) continue;
    if (again.hosts[i].host != url.hosts[i].host || again.hosts[i].port != url.hosts[i].port) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)verrou::redact_url(text);  // never throws (a throw ends the run as a crash)
  try {
    const verrou::detail::Url url = verrou::detail::parse_url(text);
    (void)url.param("table");
    try {
      url.check_params({"table", "pool_size"});
    } catch (const verrou::InvalidArgumentError&) {
    }
    if (auto v = url.param("flag")) {
      try {
        (void)verrou::detail::parse_bool_param("flag", *v);
      } catch (const verrou::InvalidArgumentError&) {
      }
    }
    check_redaction(text, url);
  } catch (const verrou::InvalidArgumentError&) {
  }
#ifdef VERROU_HAS_REDIS
  try {
    (void)verrou::RedisConnection::from_url(text);
  } catch (const verrou::InvalidArgumentError&) {
  }
#endif
#ifdef VERROU_HAS_DYNAMODB
  try {
    (void)verrou::DynamoDbStoreOptions::from_url(text);
  } catch (const verrou::InvalidArgumentError&) {
  }
#endif
  return 0;
}
