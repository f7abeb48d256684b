// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/auth.hpp"

#include <nlohmann/json.hpp>
#include <utility>

namespace verrou::detail::etcd {

Auth::Auth(std::string username, std::string password)
    : username_(std::move(username)), password_(std::move(password)) {}

std::string Auth::token(const Authenticate& authenticate) {
  if (!enabled()) return {};
  // Held while authenticating, so threads that all find the token expired ask only once.
  std::lock_guard lock(mutex_);
  if (token_.empty()) {
    const nlohmann::json body = {{"name", username_}, {"password", password_}};
    token_ = authenticate(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return token_;
}

void Auth::rejected(const std::string& rejected_token) {
  std::lock_guard lock(mutex_);
  if (token_ == rejected_token) token_.clear();
}

}  // namespace verrou::detail::etcd
