// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/store_options.hpp"

#include <algorithm>

#include "detail/driver_registry.hpp"
#include "detail/store_options.hpp"
#include "detail/url.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {

namespace detail::redis {

void validate_connection(const RedisConnection& c) {
  if (c.unix_socket.empty() && c.endpoints.empty()) {
    throw InvalidArgumentError(
        "redis: no server given; set RedisConnection::endpoints (or unix_socket), e.g. "
        "RedisConnection::from_url(\"redis://127.0.0.1:6379\")");
  }
  for (const auto& e : c.endpoints) {
    if (e.host.empty()) throw InvalidArgumentError("redis: an endpoint has an empty host name");
    if (e.port == 0) throw InvalidArgumentError("redis: endpoint " + e.host + " has port 0; give 1-65535");
  }
  if (c.cluster && !c.unix_socket.empty()) {
    throw InvalidArgumentError("redis: a cluster is reached over TCP; unix_socket cannot be used with cluster");
  }
  if (c.cluster && c.database != 0) {
    throw InvalidArgumentError("redis: Redis Cluster has only database 0; got database " +
                               std::to_string(c.database));
  }
  if (c.database < 0) {
    throw InvalidArgumentError("redis: database must be 0 or more; got " + std::to_string(c.database));
  }
  check_duration("redis: RedisConnection::connect_timeout", c.connect_timeout);
  check_duration("redis: RedisConnection::command_timeout", c.command_timeout);
  if (c.pool_size == 0) throw InvalidArgumentError("redis: pool_size must be at least 1");
}

void validate_store_options(const RedisStoreOptions& options) {
  validate_connection(options.connection);
  check_duration("redis: RedisStoreOptions::wait_timeout", options.wait_timeout);
}

std::shared_ptr<const Settings> make_settings(const RedisConnection& connection) {
  auto settings = std::make_shared<Settings>();
  settings->connection = connection;
  if (connection.tls) settings->tls = std::make_unique<TlsContext>(settings->connection);
  return settings;
}

}  // namespace detail::redis

// ---------------------------------------------------------------------------------------
// URLs

namespace {

using detail::redis::validate_connection;

// `store_options`: also accept the store's own options (open_store), not only the connection's.
RedisConnection connection_from(const detail::Url& url, bool store_options) {
  const std::string& scheme = url.scheme;
  RedisConnection c;
  c.tls = scheme == "rediss" || scheme == "rediss+cluster";
  c.cluster = scheme == "redis+cluster" || scheme == "rediss+cluster";
  bool unix = scheme == "redis+unix";
  if (!c.tls && !c.cluster && !unix && scheme != "redis") {
    throw InvalidArgumentError("not a Redis URL scheme: \"" + scheme +
                               "\"; use redis://, rediss://, redis+unix:// or redis+cluster://");
  }
  if (!url.has_authority) {
    throw InvalidArgumentError("a " + scheme + " URL needs \"//\": " + scheme +
                               (unix ? ":///path/to/redis.sock" : "://host:port"));
  }
  std::vector<std::string_view> known = {"connect_timeout", "command_timeout", "pool_size", "db",
                                         "username", "password"};
  if (c.tls) {
    for (auto n : {"ca_file", "insecure_skip_verify", "tls_server_name", "cert_file", "key_file"}) {
      known.emplace_back(n);
    }
  }
  if (store_options) {
    for (auto n : {"key_prefix", "wait_replicas", "wait_timeout"}) known.emplace_back(n);
  }
  for (const auto& [name, value] : url.query) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      bool tls_option = name == "ca_file" || name == "insecure_skip_verify" ||
                        name == "tls_server_name" || name == "cert_file" || name == "key_file";
      throw InvalidArgumentError("unknown option \"" + name + "\" in a " + scheme + ": URL" +
                                 (tls_option ? " (TLS options need rediss:// or rediss+cluster://)"
                                             : "") +
                                 "; known options: " + list);
    }
  }
  if (url.username) c.username = *url.username;
  if (url.password) c.password = *url.password;
  if (auto u = url.param("username")) c.username = *u;
  if (auto p = url.param("password")) c.password = *p;

  if (unix) {
    if (!url.hosts.empty()) {
      throw InvalidArgumentError("a redis+unix URL takes a socket path, not a host: "
                                 "redis+unix:///run/redis/redis.sock");
    }
    if (url.path.size() < 2) {
      throw InvalidArgumentError("a redis+unix URL needs the socket's path: redis+unix:///run/redis/redis.sock");
    }
    c.unix_socket = url.path;
  } else {
    if (url.hosts.empty()) {
      throw InvalidArgumentError("a " + scheme + " URL needs a host: " + scheme + "://127.0.0.1:6379");
    }
    if (!c.cluster && url.hosts.size() > 1) {
      throw InvalidArgumentError("a " + scheme +
                                 " URL takes one host; for Redis Cluster use redis+cluster://h1:p1,h2:p2");
    }
    for (const auto& h : url.hosts) c.endpoints.push_back({h.host, h.port.value_or(6379)});
    if (!url.path.empty() && url.path != "/") {
      if (c.cluster) {
        throw InvalidArgumentError("a " + scheme + " URL takes no database path (Redis Cluster has only database 0)");
      }
      c.database = static_cast<int>(detail::whole_number_option(url, "database (the URL path)", url.path.substr(1), 0, 1'000'000));
    }
  }
  if (auto db = url.param("db")) {
    c.database = static_cast<int>(detail::whole_number_option(url, "db", *db, 0, 1'000'000));
  }
  c.connect_timeout = detail::duration_param(url, "connect_timeout", c.connect_timeout);
  c.command_timeout = detail::duration_param(url, "command_timeout", c.command_timeout);
  if (auto p = url.param("pool_size")) {
    c.pool_size = static_cast<std::size_t>(detail::whole_number_option(url, "pool_size", *p, 1, 100'000));
  }
  if (auto v = url.param("ca_file")) c.tls_ca_file = *v;
  if (auto v = url.param("tls_server_name")) c.tls_server_name = *v;
  if (auto v = url.param("cert_file")) c.tls_cert_file = *v;
  if (auto v = url.param("key_file")) c.tls_key_file = *v;
  if (auto v = url.param("insecure_skip_verify")) {
    c.tls_insecure_skip_verify = detail::parse_bool_param("insecure_skip_verify", *v);
  }
  validate_connection(c);
  return c;
}

std::shared_ptr<LockStore> open_redis(const detail::Url& url) {
  RedisStoreOptions options{.connection = connection_from(url, true),
                            .key_prefix = url.param("key_prefix").value_or("")};
  if (auto n = url.param("wait_replicas")) {
    options.wait_replicas = static_cast<std::uint32_t>(detail::whole_number_option(url, "wait_replicas", *n, 0, 1000));
  }
  options.wait_timeout = detail::duration_param(url, "wait_timeout", options.wait_timeout);
  return std::make_shared<RedisStore>(std::move(options));
}

}  // namespace

RedisConnection RedisConnection::from_url(std::string_view url) {
  return connection_from(detail::parse_url(url), false);
}

std::string RedisConnection::describe() const {
  std::string text;
  if (!unix_socket.empty()) return "unix:" + unix_socket;
  if (cluster) text = "cluster ";
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (i > 0) text += ",";
    const auto& e = endpoints[i];
    bool ipv6 = e.host.find(':') != std::string::npos;
    if (ipv6) text += '[';
    text += e.host;
    if (ipv6) text += ']';
    text += ':';
    text += std::to_string(e.port);
  }
  return text;
}

namespace detail {
void register_redis_driver(DriverRegistry& registry) {
  for (const char* scheme : {"redis", "rediss", "redis+unix", "redis+cluster", "rediss+cluster"}) {
    registry.add(scheme, &open_redis);
  }
}
}  // namespace detail

}  // namespace verrou
