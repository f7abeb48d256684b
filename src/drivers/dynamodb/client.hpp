// SPDX-License-Identifier: Apache-2.0
// A small DynamoDB client: JSON requests over libcurl, signed with our SigV4, retried on
// throttling, server errors and lost connections with exponential backoff and jitter.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/dynamodb/sigv4.hpp"
#include "verrou/duration.hpp"

namespace verrou::detail::dynamodb {

struct ClientOptions {
  std::string endpoint;  // "http://127.0.0.1:8000" or "https://dynamodb.eu-west-1.amazonaws.com"
  std::string region;
  sigv4::Credentials credentials;
  Duration connect_timeout{3000};
  Duration request_timeout{5000};  // one HTTP attempt
  Duration retry_deadline{5000};   // no new attempt starts after this, counted from the first
  std::size_t max_idle_handles = 16;
};

struct Reply {
  enum class Kind { ok, service_error, transport_error };
  Kind kind = Kind::ok;
  long http_status = 0;    // for service errors
  int curl_code = 0;       // for transport errors (a CURLcode)
  std::string error_type;  // short DynamoDB type ("ConditionalCheckFailedException"), or curl's
  std::string message;
  nlohmann::json body;     // the answer on success
  int attempts = 0;
  // An earlier attempt failed in a way that leaves its effect unknown (a 5xx, a timeout or a
  // connection lost after the request was sent): the request may already have been applied.
  bool earlier_attempt_may_have_applied = false;

  [[nodiscard]] bool ok() const { return kind == Kind::ok; }
};

// Thread safety: `call` may be used from any number of threads; each call borrows one curl
// easy handle (which keeps its connection alive) from a pool.
class Client {
 public:
  // Throws InvalidArgumentError for an endpoint that is not http(s)://host[:port][/].
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `operation` ("PutItem") with `request` as its JSON body. Never throws for DynamoDB
  // or network failures (they come back in the reply); throws InvalidArgumentError when the
  // request cannot be encoded (strings that are not UTF-8).
  Reply call(std::string_view operation, const nlohmann::json& request);

  // The endpoint, for messages.
  [[nodiscard]] const std::string& endpoint() const { return options_.endpoint; }
  [[nodiscard]] const std::string& region() const { return options_.region; }

 private:
  struct Handle;
  std::unique_ptr<Handle> take();
  void give(std::unique_ptr<Handle> handle);
  Reply attempt(Handle& handle, std::string_view operation, const std::string& body);

  ClientOptions options_;
  std::string url_;
  std::string host_header_;
  // The SigV4 signing key of the day it was derived for (four HMACs saved per request).
  std::string signing_key_for(std::string_view date);

  std::mutex mutex_;
  std::vector<std::unique_ptr<Handle>> idle_;
  std::string key_date_;     // guarded by mutex_
  std::string signing_key_;  // guarded by mutex_
};

// The part of a DynamoDB error type after '#': "ConditionalCheckFailedException".
std::string short_error_type(std::string_view type);

// True for the error types DynamoDB uses to say "slow down" (worth retrying).
bool is_throttling(std::string_view short_type);

}  // namespace verrou::detail::dynamodb
