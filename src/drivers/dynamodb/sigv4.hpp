// SPDX-License-Identifier: Apache-2.0
// AWS Signature Version 4 request signing, for the DynamoDB driver.
//
// Our own implementation rather than libcurl's CURLOPT_AWS_SIGV4, so that exactly what is
// signed is under our control and checked against AWS's published signing examples
// (tests/integration/dynamodb/sigv4_test.cpp) whatever libcurl the system has: its SigV4
// support has changed from release to release.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace verrou::detail::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
};

struct Request {
  std::string method;  // "GET", "POST"
  std::string path;    // already URI-encoded, e.g. "/"
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // every header to sign, as sent
  std::string_view payload;
};

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the Authorization header's value
};

// Signs `request` for `service` in `region` at `date_time` ("YYYYMMDDTHHMMSSZ", which the
// request's X-Amz-Date header must carry). Every header of the request is signed.
// `derived_key`, when not empty, is `signing_key(secret, date, region, service)` for the date
// of `date_time`, computed once by the caller (it changes once a day); otherwise it is derived
// here.
Signed sign(const Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, std::string_view date_time,
            std::string_view derived_key = {});

// The derived signing key (raw bytes) for a secret, a date ("20150830"), region and service.
std::string signing_key(std::string_view secret_access_key, std::string_view date,
                        std::string_view region, std::string_view service);

// The X-Amz-Date form of a time: "20150830T123600Z" (UTC).
std::string amz_date(std::chrono::system_clock::time_point when);

// SHA-256 of `data` as lower-case hex.
std::string sha256_hex(std::string_view data);

// HMAC-SHA256 of `data` under `key`, as raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Percent-encodes every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~), upper-case hex.
std::string uri_encode(std::string_view text);

}  // namespace verrou::detail::sigv4
