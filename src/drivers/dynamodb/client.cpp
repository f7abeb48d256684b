// SPDX-License-Identifier: Apache-2.0
#include "drivers/dynamodb/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "detail/url.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail::dynamodb {
namespace {

constexpr std::string_view kTargetPrefix = "DynamoDB_20120810.";
constexpr std::string_view kContentType = "application/x-amz-json-1.0";
constexpr std::string_view kUserAgent = "verrou-cpp";

void global_init() {
  // curl_global_init is not safe to race with other curl calls before it has run once.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  out->append(data, size * count);
  return size * count;
}

// Errors after which the request surely never reached DynamoDB.
bool surely_not_sent(CURLcode code) {
  return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
         code == CURLE_COULDNT_CONNECT || code == CURLE_SSL_CONNECT_ERROR ||
         code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE;
}

// Errors that retrying cannot cure.
bool permanent(CURLcode code) {
  return code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
         code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
         code == CURLE_OUT_OF_MEMORY;
}

Duration backoff(int attempt) {
  // Full jitter: a random delay up to an exponentially growing cap, so clients throttled
  // together do not come back together.
  constexpr Duration kBase{25};
  constexpr Duration kCap{1000};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int shift = std::min(attempt - 1, 10);
  const Duration cap = std::min(kCap, kBase * (std::int64_t{1} << shift));
  std::uniform_int_distribution<std::int64_t> pick(1, std::max<std::int64_t>(1, cap.count()));
  return Duration{pick(rng)};
}

}  // namespace

std::string short_error_type(std::string_view type) {
  const auto hash = type.rfind('#');
  return std::string(hash == std::string_view::npos ? type : type.substr(hash + 1));
}

bool is_throttling(std::string_view short_type) {
  return short_type == "ProvisionedThroughputExceededException" ||
         short_type == "ThrottlingException" || short_type == "RequestLimitExceeded";
}

struct Client::Handle {
  CURL* curl = nullptr;
  std::string response;
  std::array<char, CURL_ERROR_SIZE> error{};

  Handle() : curl(curl_easy_init()) {}
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

Client::Client(ClientOptions options) : options_(std::move(options)) {
  global_init();
  const Url url = parse_url(options_.endpoint);
  if ((url.scheme != "http" && url.scheme != "https") || url.hosts.size() != 1 ||
      url.hosts.front().host.empty() || url.username || url.password || !url.query.empty() ||
      (!url.path.empty() && url.path != "/")) {
    throw InvalidArgumentError("DynamoDB endpoint '" + redact_url_text(options_.endpoint) +
                               "' is not valid: expected http://host[:port] or "
                               "https://host[:port], e.g. http://127.0.0.1:8000");
  }
  const HostPort& hp = url.hosts.front();
  const bool ipv6 = hp.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + hp.host + "]" : hp.host;
  const std::uint16_t default_port = url.scheme == "https" ? 443 : 80;
  if (hp.port && *hp.port != default_port) host += ":" + std::to_string(*hp.port);
  host_header_ = host;
  url_ = url.scheme + "://" + host + "/";
}

Client::~Client() = default;

std::unique_ptr<Client::Handle> Client::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  if (handle->curl == nullptr) throw LockStorageError("DynamoDB client: curl_easy_init failed");
  CURL* curl = handle->curl;
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, kUserAgent.data());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &handle->response);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle->error.data());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<std::int64_t>(1, options_.connect_timeout.count())));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<std::int64_t>(1, options_.request_timeout.count())));
  // AWS SDKs honour AWS_CA_BUNDLE for a private certificate authority; so do we.
  if (const char* bundle = std::getenv("AWS_CA_BUNDLE"); bundle != nullptr && *bundle != '\0') {
    curl_easy_setopt(curl, CURLOPT_CAINFO, bundle);
  }
  return handle;
}

void Client::give(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < std::max<std::size_t>(options_.max_idle_handles, 1)) {
    idle_.push_back(std::move(handle));
  }
}

std::string Client::signing_key_for(std::string_view date) {
  {
    std::lock_guard lock(mutex_);
    if (key_date_ == date) return signing_key_;
  }
  std::string key =
      sigv4::signing_key(options_.credentials.secret_access_key, date, options_.region, "dynamodb");
  std::lock_guard lock(mutex_);
  key_date_ = std::string(date);
  signing_key_ = key;
  return key;
}

Reply Client::attempt(Handle& handle, std::string_view operation, const std::string& body) {
  const std::string date = sigv4::amz_date(std::chrono::system_clock::now());
  const std::string target = std::string(kTargetPrefix) + std::string(operation);

  sigv4::Request request{.method = "POST", .path = "/", .query = {}, .headers = {}, .payload = body};
  request.headers = {
      {"Content-Type", std::string(kContentType)},
      {"Host", host_header_},
      {"X-Amz-Date", date},
      {"X-Amz-Target", target},
  };
  if (!options_.credentials.session_token.empty()) {
    request.headers.emplace_back("X-Amz-Security-Token", options_.credentials.session_token);
  }
  const sigv4::Signed signature = sigv4::sign(request, options_.credentials, options_.region,
                                              "dynamodb", date, signing_key_for(date.substr(0, 8)));

  curl_slist* headers = nullptr;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers, line.c_str());
    if (next == nullptr) {
      curl_slist_free_all(headers);
      throw LockStorageError("DynamoDB client: out of memory building headers");
    }
    headers = next;
  };
  for (const auto& [name, value] : request.headers) add_header(name + ": " + value);
  add_header("Authorization: " + signature.authorization);
  add_header("Expect:");  // no 100-continue round trip
  add_header("Accept:");

  CURL* curl = handle.curl;
  handle.response.clear();
  handle.error[0] = '\0';
  // The options that never change were set when the handle was made (take()).
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);

  Reply reply;
  if (code != CURLE_OK) {
    reply.kind = Reply::Kind::transport_error;
    reply.error_type = curl_easy_strerror(code);
    reply.message = handle.error[0] != '\0' ? std::string(handle.error.data()) : reply.error_type;
    reply.curl_code = static_cast<int>(code);
    return reply;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.http_status);
  nlohmann::json parsed = nlohmann::json::parse(handle.response, nullptr, false);
  if (reply.http_status == 200) {
    if (parsed.is_discarded() || !parsed.is_object()) {
      reply.kind = Reply::Kind::service_error;
      reply.error_type = "InvalidResponse";
      reply.message = "the answer is not a JSON object: " + handle.response.substr(0, 200);
      return reply;
    }
    reply.body = std::move(parsed);
    return reply;
  }
  reply.kind = Reply::Kind::service_error;
  if (!parsed.is_discarded() && parsed.is_object()) {
    if (auto it = parsed.find("__type"); it != parsed.end() && it->is_string()) {
      reply.error_type = short_error_type(it->get<std::string>());
    }
    for (const char* name : {"message", "Message"}) {
      if (auto it = parsed.find(name); it != parsed.end() && it->is_string()) {
        reply.message = it->get<std::string>();
      }
    }
  }
  if (reply.error_type.empty()) reply.error_type = "HTTP " + std::to_string(reply.http_status);
  if (reply.message.empty()) reply.message = handle.response.substr(0, 200);
  return reply;
}

Reply Client::call(std::string_view operation, const nlohmann::json& request) {
  std::string body;
  try {
    body = request.dump();
  } catch (const nlohmann::json::type_error& e) {
    throw InvalidArgumentError("DynamoDB " + std::string(operation) +
                               ": a key or owner is not valid UTF-8, which DynamoDB strings "
                               "require (" + e.what() + ")");
  }

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options_.retry_deadline;
  bool may_have_applied = false;
  for (int attempt_number = 1;; ++attempt_number) {
    auto handle = take();
    Reply reply = attempt(*handle, operation, body);
    give(std::move(handle));
    reply.attempts = attempt_number;
    reply.earlier_attempt_may_have_applied = may_have_applied;

    bool retry = false;
    if (reply.kind == Reply::Kind::transport_error) {
      const auto code = static_cast<CURLcode>(reply.curl_code);
      retry = !permanent(code);
      if (!surely_not_sent(code)) may_have_applied = true;
    } else if (reply.kind == Reply::Kind::service_error) {
      if (reply.http_status >= 500) {
        retry = true;
        may_have_applied = true;
      } else {
        retry = is_throttling(reply.error_type);
      }
    }
    if (!retry) return reply;
    const Duration delay = backoff(attempt_number);
    if (std::chrono::steady_clock::now() + delay > deadline) return reply;
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace verrou::detail::dynamodb
