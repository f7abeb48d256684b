// SPDX-License-Identifier: Apache-2.0
// A client of etcd's v3 JSON gateway: one call is one request, sent to the preferred member
// and, when a member cannot serve it (unreachable, no leader, timed out, answering garbage),
// to the next ones in turn until one answers or the call's deadline passes. Authentication
// tokens are attached and renewed here.
//
// Every request the store sends is safe to send twice (conditional transactions whose failure
// branch reads the key back, so the store recognises its own earlier write); the reply says
// when an earlier attempt may have been applied, so the store can tell the truth about it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/etcd/auth.hpp"
#include "drivers/etcd/endpoints.hpp"
#include "drivers/etcd/http.hpp"
#include "drivers/etcd/protocol.hpp"
#include "verrou/duration.hpp"

namespace verrou::detail::etcd {

using Clock = std::chrono::steady_clock;

struct ClientOptions {
  std::vector<std::string> endpoints;  // base URLs, "http://127.0.0.1:2379"
  TlsOptions tls{};
  std::string username{};
  std::string password{};
  Duration connect_timeout{1000};
  Duration request_timeout{2000};  // one attempt on one member
  std::size_t max_idle_connections = 64;
};

struct Result {
  enum class Kind {
    ok,           // `body` is etcd's answer
    rejected,     // etcd refused the request (a definitive answer: retrying cannot help)
    unavailable,  // no member served it before the deadline
  };
  Kind kind = Kind::ok;
  json body;                      // when ok
  int code = 0;                   // etcd's gRPC status code when rejected
  std::string message;            // what etcd or the network said, naming the member
  bool may_have_applied = false;  // an attempt failed after its request may have been applied
  int attempts = 0;

  [[nodiscard]] bool ok() const { return kind == Kind::ok; }
};

// gRPC status codes etcd answers with.
inline constexpr int kCodeInvalidArgument = 3;
inline constexpr int kCodeNotFound = 5;
inline constexpr int kCodePermissionDenied = 7;
inline constexpr int kCodeUnauthenticated = 16;

// Thread safety: every member may be called concurrently.
class Client {
 public:
  explicit Client(ClientOptions options);

  // Sends `request` to `path` ("/v3/kv/txn"), trying members until one serves it or
  // `deadline` passes. Never throws for etcd or network failures (see Result); throws
  // LockStorageError when authentication fails, InvalidArgumentError for a request that
  // cannot be encoded.
  Result call(std::string_view path, const json& request, Clock::time_point deadline);

  // One attempt on one member (no failover), for the watch stream's health probe.
  Result call_member(std::size_t member, std::string_view path, const json& request,
                     Duration timeout);

  // The token to send now ("" without authentication). Throws LockStorageError when
  // authentication fails.
  std::string token(Clock::time_point deadline);
  void token_rejected(const std::string& token) { auth_.rejected(token); }

  [[nodiscard]] Endpoints& endpoints() { return endpoints_; }
  [[nodiscard]] const TlsOptions& tls() const { return http_.tls(); }
  [[nodiscard]] Duration request_timeout() const { return options_.request_timeout; }
  [[nodiscard]] Duration connect_timeout() const { return options_.connect_timeout; }
  // "etcd at 127.0.0.1:2379,127.0.0.1:22379", for messages.
  [[nodiscard]] std::string describe() const;

 private:
  enum class Outcome { done, next_member, retry_same };
  Outcome attempt(std::size_t member, std::string_view path, const std::string& body,
                  const std::string& token, Duration timeout, Result& result);
  Result run(std::string_view path, const std::string& body, bool with_token,
             Clock::time_point deadline);

  ClientOptions options_;
  Endpoints endpoints_;
  HttpPool http_;
  Auth auth_;
};

}  // namespace verrou::detail::etcd
