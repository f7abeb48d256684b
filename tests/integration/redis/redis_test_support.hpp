// SPDX-License-Identifier: Apache-2.0
// Where the Redis tests find their servers, and how they make stores.
#pragma once

#include <verrou/drivers/redis.hpp>
#include <verrou/errors.hpp>
#include <verrou/open_store.hpp>
#include <verrou/testing/server.hpp>

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace verrou::redis_test {

inline std::string servers_dir() {
  return conformance::env_or("VERROU_SERVERS_DIR", "/tmp/verrou-servers");
}

inline std::string standalone_url() {
  return conformance::env_or("VERROU_REDIS_URL", "redis://127.0.0.1:6379");
}

inline std::string cluster_url() {
  return conformance::env_or("VERROU_REDIS_CLUSTER_URL",
                             "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002");
}

inline std::string unix_url() {
  return conformance::env_or("VERROU_REDIS_UNIX_URL",
                             "redis+unix://" + servers_dir() + "/redis/redis.sock");
}

// The CA of scripts/servers/redis-tls.sh (VERROU_REDIS_TLS_CA overrides).
inline std::string tls_ca() {
  return conformance::env_or("VERROU_REDIS_TLS_CA", servers_dir() + "/redis-tls/ca.crt");
}

// VERROU_REDIS_TLS_URL, or the URL (with its generated password) the TLS server script wrote.
inline std::string tls_url() {
  std::string url = conformance::env_or("VERROU_REDIS_TLS_URL", "");
  if (!url.empty()) return url;
  std::ifstream file(servers_dir() + "/redis-tls/url");
  std::getline(file, url);
  if (url.empty()) {
    return "rediss://verrou:unknown@127.0.0.1:6380?ca_file=" + tls_ca();
  }
  return url;
}

inline std::shared_ptr<RedisStore> make_store(const std::string& url, std::string prefix = {}) {
  return std::make_shared<RedisStore>(
      RedisStoreOptions{.connection = RedisConnection::from_url(url), .key_prefix = std::move(prefix)});
}

// nullopt when a store at `url` answers PING; otherwise why not.
inline std::optional<std::string> unavailable(const std::string& url) {
  try {
    make_store(url)->ping();
    return std::nullopt;
  } catch (const std::exception& e) {
    return "no Redis at " + verrou::redact_url(url) + ": " + e.what();
  }
}

}  // namespace verrou::redis_test
