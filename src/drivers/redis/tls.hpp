// SPDX-License-Identifier: Apache-2.0
// TLS for the Redis store (OpenSSL): the shared context with its trust settings, and a
// session over one of the store's own non-blocking sockets.
#pragma once

#include <string>

#include "verrou/drivers/redis.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace verrou::detail::redis {

/// The OpenSSL error queue as text (emptied), for messages.
std::string openssl_errors();

/// Shared TLS settings: one SSL_CTX per store. Thread safety: immutable after construction.
class TlsContext {
 public:
  /// Throws InvalidArgumentError naming an unreadable CA, certificate or key file.
  explicit TlsContext(const RedisConnection& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// A new session on `fd`, set up to check the certificate against `host` (or the configured
  /// server name). Sends with MSG_NOSIGNAL, so a peer that went away gives an error instead of
  /// SIGPIPE. Returns null with the reason in `error` when OpenSSL refuses.
  ssl_st* new_session(int fd, const std::string& host, std::string& error) const;

 private:
  ssl_ctx_st* ctx_ = nullptr;
  bool verify_ = true;
  std::string server_name_;
};

}  // namespace verrou::detail::redis
