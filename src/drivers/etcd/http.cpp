// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <utility>

#include "verrou/errors.hpp"

namespace verrou::detail::etcd {
namespace {

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  // A member answering without end must not exhaust memory: no reply the store reads comes
  // near this size.
  constexpr std::size_t kMaxBody = 64U << 20U;
  if (out->size() + size * count > kMaxBody) return 0;
  out->append(data, size * count);
  return size * count;
}

// Errors after which the request surely never reached the member.
bool surely_not_sent(CURLcode code) {
  return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
         code == CURLE_COULDNT_CONNECT || code == CURLE_SSL_CONNECT_ERROR ||
         code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
         code == CURLE_SSL_CERTPROBLEM || code == CURLE_UNSUPPORTED_PROTOCOL;
}

long millis(Duration d) { return static_cast<long>(std::max<std::int64_t>(1, d.count())); }

}  // namespace

void global_init() {
  // curl_global_init is not safe to race with other curl calls before it has run once.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void configure_tls(void* handle, const TlsOptions& tls) {
  CURL* curl = static_cast<CURL*>(handle);
  if (!tls.enabled) return;
  if (!tls.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, tls.cert_file.c_str());
  if (!tls.key_file.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, tls.key_file.c_str());
  if (tls.insecure_skip_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

struct HttpPool::Handle {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  std::string token;  // the one `headers` carries
  std::string response;
  std::array<char, CURL_ERROR_SIZE> error{};

  Handle() : curl(curl_easy_init()) {}
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // The header list for `with_token`, rebuilt only when the token changed.
  bool set_headers(const std::string& with_token) {
    if (headers != nullptr && token == with_token) return true;
    curl_slist_free_all(headers);
    headers = nullptr;
    for (std::string line : {std::string("Content-Type: application/json"), std::string("Expect:"),
                             std::string("Accept:"),
                             with_token.empty() ? std::string() : "Authorization: " + with_token}) {
      if (line.empty()) continue;
      curl_slist* next = curl_slist_append(headers, line.c_str());
      if (next == nullptr) {
        curl_slist_free_all(headers);
        headers = nullptr;
        return false;
      }
      headers = next;
    }
    token = with_token;
    return true;
  }
};

HttpPool::HttpPool(TlsOptions tls, Duration connect_timeout, std::size_t max_idle)
    : tls_(std::move(tls)), connect_timeout_(connect_timeout), max_idle_(max_idle) {
  global_init();
}

HttpPool::~HttpPool() = default;

std::unique_ptr<HttpPool::Handle> HttpPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto handle = std::move(idle_.back());
      idle_.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  if (handle->curl == nullptr) throw LockStorageError("etcd client: curl_easy_init failed");
  CURL* curl = handle->curl;
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "verrou-cpp");
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &handle->response);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle->error.data());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, millis(connect_timeout_));
  // Members of one cluster each get a connection of their own in the handle's cache.
  curl_easy_setopt(curl, CURLOPT_MAXCONNECTS, 16L);
  configure_tls(curl, tls_);
  return handle;
}

void HttpPool::give(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < std::max<std::size_t>(max_idle_, 1)) idle_.push_back(std::move(handle));
}

HttpReply HttpPool::post(const std::string& url, const std::string& body,
                         const std::string& token, Duration timeout) {
  auto handle = take();
  if (!handle->set_headers(token)) {
    throw LockStorageError("etcd client: out of memory building request headers");
  }
  CURL* curl = handle->curl;
  handle->response.clear();
  handle->error[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, handle->headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, millis(timeout));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   millis(std::min(connect_timeout_, timeout)));
  const CURLcode code = curl_easy_perform(curl);

  HttpReply reply;
  if (code != CURLE_OK) {
    reply.kind = HttpReply::Kind::transport_error;
    reply.curl_code = static_cast<int>(code);
    reply.error = handle->error[0] != '\0' ? std::string(handle->error.data())
                                           : std::string(curl_easy_strerror(code));
    reply.maybe_sent = !surely_not_sent(code);
    // A handle whose transfer failed may hold a half-read connection: do not reuse it.
    return reply;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = std::move(handle->response);
  handle->response = std::string();
  give(std::move(handle));
  return reply;
}

}  // namespace verrou::detail::etcd
