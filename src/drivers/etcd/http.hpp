// SPDX-License-Identifier: Apache-2.0
// HTTP for the etcd store: JSON POSTs over a pool of libcurl handles (each keeps its
// connections alive), plain or TLS, and the TLS settings the watch stream shares.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "verrou/duration.hpp"

namespace verrou::detail::etcd {

struct TlsOptions {
  bool enabled = false;              // https:// to every member
  std::string ca_file{};             // PEM bundle of the certificate authority; empty: system's
  std::string cert_file{};           // client certificate (PEM), for --client-cert-auth members
  std::string key_file{};            // its private key (PEM)
  bool insecure_skip_verify = false; // do not check the members' certificates (tests only)
};

struct HttpReply {
  enum class Kind { answered, transport_error };
  Kind kind = Kind::answered;
  long status = 0;          // HTTP status when answered
  std::string body;         // the answer's body
  int curl_code = 0;        // a CURLcode when transport_error
  std::string error;        // curl's message when transport_error
  // The request may have reached the member (false only when the connection never opened).
  bool maybe_sent = true;
};

// Applies `tls` to a curl easy handle (`curl` is a CURL*); used by the pool and the watcher.
void configure_tls(void* curl, const TlsOptions& tls);

// Makes sure libcurl is initialised once per process, before any handle is made.
void global_init();

// Thread safety: `post` may be called from any number of threads at once; each call borrows a
// handle from the pool.
class HttpPool {
 public:
  HttpPool(TlsOptions tls, Duration connect_timeout, std::size_t max_idle);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // POSTs `body` (JSON) to `url`, with "Authorization: <token>" when `token` is not empty,
  // giving up after `timeout`. Never throws for network failures (they come back in the
  // reply); throws LockStorageError only when curl cannot allocate.
  HttpReply post(const std::string& url, const std::string& body, const std::string& token,
                 Duration timeout);

  [[nodiscard]] const TlsOptions& tls() const { return tls_; }
  [[nodiscard]] Duration connect_timeout() const { return connect_timeout_; }

 private:
  struct Handle;
  std::unique_ptr<Handle> take();
  void give(std::unique_ptr<Handle> handle);

  TlsOptions tls_;
  Duration connect_timeout_;
  std::size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

}  // namespace verrou::detail::etcd
