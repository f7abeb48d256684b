// SPDX-License-Identifier: Apache-2.0
// etcd authentication: a user name and password exchanged for a token (/v3/auth/authenticate),
// sent with every request and exchanged again when etcd says it is no longer valid (simple
// tokens expire after --auth-token-ttl of disuse, JWTs at their expiry). The password stays
// in this object and is never written to a message.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace verrou::detail::etcd {

// Thread safety: every member may be called concurrently; one authentication runs at a time.
class Auth {
 public:
  // Sends an authenticate request body and returns the token; throws on failure.
  using Authenticate = std::function<std::string(const std::string& request_body)>;

  Auth(std::string username, std::string password);

  // Whether a user was given (otherwise requests carry no token).
  [[nodiscard]] bool enabled() const { return !username_.empty(); }
  [[nodiscard]] const std::string& username() const { return username_; }

  // The current token, authenticating first when there is none. Empty when not enabled.
  std::string token(const Authenticate& authenticate);
  // `rejected` was refused by etcd: forget it, so the next `token` authenticates again
  // (unless another thread already has).
  void rejected(const std::string& rejected_token);

 private:
  std::string username_;
  std::string password_;
  std::mutex mutex_;
  std::string token_;
};

}  // namespace verrou::detail::etcd
