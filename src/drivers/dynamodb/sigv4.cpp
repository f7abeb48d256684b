// SPDX-License-Identifier: Apache-2.0
#include "drivers/dynamodb/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <map>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail::sigv4 {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Header values are trimmed and runs of spaces inside them collapse to one space.
std::string canonical_value(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string uri_encode(std::string_view text) {
  constexpr std::string_view kUpperHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (is_unreserved(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kUpperHex[byte >> 4U]);
      out.push_back(kUpperHex[byte & 0x0FU]);
    }
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    throw LockStorageError("DynamoDB request signing: OpenSSL could not compute SHA-256");
  }
  return to_hex(digest.data(), size);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
           &size) == nullptr) {
    throw LockStorageError("DynamoDB request signing: OpenSSL could not compute HMAC-SHA256");
  }
  return {reinterpret_cast<const char*>(mac.data()), size};
}

std::string amz_date(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> buffer{};
  const std::size_t n = std::strftime(buffer.data(), buffer.size(), "%Y%m%dT%H%M%SZ", &utc);
  return {buffer.data(), n};
}

std::string signing_key(std::string_view secret_access_key, std::string_view date,
                        std::string_view region, std::string_view service) {
  std::string key = hmac_sha256("AWS4" + std::string(secret_access_key), date);
  key = hmac_sha256(key, region);
  key = hmac_sha256(key, service);
  return hmac_sha256(key, "aws4_request");
}

Signed sign(const Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, std::string_view date_time, std::string_view derived_key) {
  Signed out;

  // Canonical query: names and values encoded, sorted by name then value.
  std::vector<std::pair<std::string, std::string>> query;
  query.reserve(request.query.size());
  for (const auto& [name, value] : request.query) {
    query.emplace_back(uri_encode(name), uri_encode(value));
  }
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [name, value] : query) {
    if (!canonical_query.empty()) canonical_query.push_back('&');
    canonical_query += name;
    canonical_query.push_back('=');
    canonical_query += value;
  }

  // Canonical headers: lower-case names, sorted; repeated names join their values with ','.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string lname;
    lname.reserve(name.size());
    for (char c : name) lname.push_back(ascii_lower(c));
    auto [it, inserted] = headers.try_emplace(std::move(lname), canonical_value(value));
    if (!inserted) {
      it->second.push_back(',');
      it->second += canonical_value(value);
    }
  }
  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name;
    canonical_headers.push_back(':');
    canonical_headers += value;
    canonical_headers.push_back('\n');
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }

  out.canonical_request = request.method;
  out.canonical_request.push_back('\n');
  out.canonical_request += request.path.empty() ? std::string("/") : request.path;
  out.canonical_request.push_back('\n');
  out.canonical_request += canonical_query;
  out.canonical_request.push_back('\n');
  out.canonical_request += canonical_headers;
  out.canonical_request.push_back('\n');
  out.canonical_request += out.signed_headers;
  out.canonical_request.push_back('\n');
  out.canonical_request += sha256_hex(request.payload);

  const std::string_view date = date_time.substr(0, 8);
  std::string scope;
  scope.append(date).append("/").append(region).append("/").append(service).append(
      "/aws4_request");

  out.string_to_sign = "AWS4-HMAC-SHA256\n";
  out.string_to_sign.append(date_time).append("\n").append(scope).append("\n");
  out.string_to_sign += sha256_hex(out.canonical_request);

  const std::string mac = hmac_sha256(
      derived_key.empty() ? signing_key(credentials.secret_access_key, date, region, service)
                          : std::string(derived_key),
      out.string_to_sign);
  out.signature = to_hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());

  out.authorization = "AWS4-HMAC-SHA256 Credential=";
  out.authorization.append(credentials.access_key_id).append("/").append(scope);
  out.authorization.append(", SignedHeaders=").append(out.signed_headers);
  out.authorization.append(", Signature=").append(out.signature);
  return out;
}

}  // namespace verrou::detail::sigv4
