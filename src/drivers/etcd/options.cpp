// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/options.hpp"

#include <algorithm>

#include "detail/store_options.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail::etcd {
namespace {

// Longest prefix accepted: keys stay well within etcd's request size.
constexpr std::size_t kMaxPrefix = 1024;

EtcdExpiry expiry_from_text(const std::string& text) {
  if (text == "lease") return EtcdExpiry::lease;
  if (text == "clock") return EtcdExpiry::clock;
  throw InvalidArgumentError("etcd URL option expiry='" + text +
                             "' is not valid; use expiry=lease (etcd's leases judge expiry: "
                             "the default) or expiry=clock (each reader's clock judges it)");
}

}  // namespace

EtcdStoreOptions options_from_url(const Url& url) {
  if (url.scheme != "etcd" && url.scheme != "etcds") {
    throw InvalidArgumentError("not an etcd URL scheme: \"" + url.scheme +
                               "\"; use etcd://host:2379 or etcds://host:2379 (TLS)");
  }
  EtcdStoreOptions options;
  options.tls = url.scheme == "etcds";
  if (!url.has_authority || url.hosts.empty()) {
    throw InvalidArgumentError("an " + url.scheme + " URL needs at least one member: " +
                               url.scheme + "://127.0.0.1:2379[,host:port…]");
  }
  if (!url.path.empty() && url.path != "/") {
    throw InvalidArgumentError("an " + url.scheme +
                               " URL takes no path; give the key prefix as ?prefix=…");
  }
  const std::vector<std::string_view> tls_options = {"ca_file", "cert_file", "key_file",
                                                     "insecure_skip_verify"};
  for (const auto& [name, value] : url.query) {
    const bool tls_option =
        std::find(tls_options.begin(), tls_options.end(), name) != tls_options.end();
    if (tls_option && !options.tls) {
      throw InvalidArgumentError("the etcd URL option \"" + name +
                                 "\" needs TLS: use the etcds:// scheme");
    }
    if (!tls_option && name != "prefix" && name != "expiry" && name != "connect_timeout" &&
        name != "request_timeout" && name != "operation_timeout") {
      throw InvalidArgumentError(
          "unknown option \"" + name + "\" in an " + url.scheme +
          ": URL; known options: prefix, expiry, connect_timeout, request_timeout, "
          "operation_timeout" +
          (options.tls ? ", ca_file, cert_file, key_file, insecure_skip_verify" : ""));
    }
  }
  for (const auto& h : url.hosts) options.endpoints.push_back({h.host, h.port.value_or(2379)});
  if (url.username) options.username = *url.username;
  if (url.password) options.password = *url.password;
  if (auto v = url.param("prefix")) options.prefix = *v;
  if (auto v = url.param("expiry")) options.expiry = expiry_from_text(*v);
  if (auto v = url.param("ca_file")) options.ca_file = *v;
  if (auto v = url.param("cert_file")) options.cert_file = *v;
  if (auto v = url.param("key_file")) options.key_file = *v;
  if (auto v = url.param("insecure_skip_verify")) {
    options.insecure_skip_verify = parse_bool_param("insecure_skip_verify", *v);
  }
  options.connect_timeout = duration_param(url, "connect_timeout", options.connect_timeout);
  options.request_timeout = duration_param(url, "request_timeout", options.request_timeout);
  options.operation_timeout =
      duration_param(url, "operation_timeout", options.operation_timeout);
  validate(options);
  return options;
}

void validate(const EtcdStoreOptions& options) {
  if (options.endpoints.empty()) {
    throw InvalidArgumentError(
        "etcd store: no member given; set EtcdStoreOptions::endpoints, e.g. {{\"127.0.0.1\", "
        "2379}}, or use a URL such as etcd://127.0.0.1:2379");
  }
  for (const auto& e : options.endpoints) {
    if (e.host.empty()) throw InvalidArgumentError("etcd store: a member has an empty host name");
    if (e.port == 0) {
      throw InvalidArgumentError("etcd store: member " + e.host + " has port 0; give 1-65535");
    }
    for (char c : e.host) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '@' || c == '?' ||
          c == '#' || c == '[' || c == ']') {
        throw InvalidArgumentError("etcd store: the host name \"" + e.host +
                                   "\" contains a character not allowed there");
      }
    }
  }
  if (options.prefix.size() > kMaxPrefix) {
    throw InvalidArgumentError("etcd store: the prefix is " +
                               std::to_string(options.prefix.size()) +
                               " bytes long; at most " + std::to_string(kMaxPrefix) +
                               " are accepted");
  }
  if (options.password.size() > 0 && options.username.empty()) {
    throw InvalidArgumentError("etcd store: a password is given without a user name");
  }
  if (!options.tls && (!options.ca_file.empty() || !options.cert_file.empty() ||
                       !options.key_file.empty() || options.insecure_skip_verify)) {
    throw InvalidArgumentError(
        "etcd store: ca_file, cert_file, key_file and insecure_skip_verify need tls = true "
        "(the etcds:// scheme)");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    throw InvalidArgumentError(
        "etcd store: a client certificate needs both cert_file and key_file");
  }
  if (options.expiry != EtcdExpiry::lease && options.expiry != EtcdExpiry::clock) {
    throw InvalidArgumentError("etcd store: expiry is " +
                               std::to_string(static_cast<int>(options.expiry)) +
                               ", not a valid EtcdExpiry; use EtcdExpiry::lease or "
                               "EtcdExpiry::clock");
  }
  check_duration("etcd store: EtcdStoreOptions::connect_timeout", options.connect_timeout);
  check_duration("etcd store: EtcdStoreOptions::request_timeout", options.request_timeout);
  check_duration("etcd store: EtcdStoreOptions::operation_timeout", options.operation_timeout);
}

ClientOptions client_options(const EtcdStoreOptions& options) {
  ClientOptions out;
  const std::string scheme = options.tls ? "https://" : "http://";
  for (const auto& e : options.endpoints) {
    const bool ipv6 = e.host.find(':') != std::string::npos;
    out.endpoints.push_back(scheme + (ipv6 ? "[" + e.host + "]" : e.host) + ":" +
                            std::to_string(e.port));
  }
  out.tls = TlsOptions{.enabled = options.tls,
                       .ca_file = options.ca_file,
                       .cert_file = options.cert_file,
                       .key_file = options.key_file,
                       .insecure_skip_verify = options.insecure_skip_verify};
  out.username = options.username;
  out.password = options.password;
  out.connect_timeout = options.connect_timeout;
  out.request_timeout = options.request_timeout;
  out.max_idle_connections = options.max_idle_connections;
  return out;
}

}  // namespace verrou::detail::etcd
