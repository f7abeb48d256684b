// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/tls.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "verrou/errors.hpp"

namespace verrou::detail::redis {

namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// A BIO over the store's non-blocking socket that sends with MSG_NOSIGNAL (OpenSSL's own
// socket BIO uses write(2), which raises SIGPIPE on a closed connection).
int bio_write(BIO* bio, const char* data, int size) {
  int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  ssize_t n = ::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  ssize_t n = ::recv(fd, data, static_cast<std::size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO* /*bio*/, int command, long /*num*/, void* /*ptr*/) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "verrou redis socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

TlsContext::TlsContext(const RedisConnection& options)
    : verify_(!options.tls_insecure_skip_verify), server_name_(options.tls_server_name) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) throw LockStorageError("redis: cannot create a TLS context: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  auto fail = [&](const std::string& what) {
    std::string detail = openssl_errors();
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
    throw InvalidArgumentError("redis TLS: " + what + (detail.empty() ? "" : " (" + detail + ")"));
  };
  if (verify_) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!options.tls_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_, options.tls_ca_file.c_str(), nullptr) != 1) {
        fail("cannot read the CA file ca_file=" + options.tls_ca_file +
             "; give a readable PEM file of CA certificates");
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      fail("cannot load the system's CA certificates; give ca_file=");
    }
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
      fail("cert_file and key_file go together; give both or neither");
    }
    if (SSL_CTX_use_certificate_chain_file(ctx_, options.tls_cert_file.c_str()) != 1) {
      fail("cannot read the client certificate cert_file=" + options.tls_cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx_, options.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      fail("cannot read the client key key_file=" + options.tls_key_file);
    }
  }
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

ssl_st* TlsContext::new_session(int fd, const std::string& host, std::string& error) const {
  SSL* ssl = SSL_new(ctx_);
  BIO* bio = ssl != nullptr ? BIO_new(socket_bio_method()) : nullptr;
  if (bio == nullptr) {
    error = "TLS: " + openssl_errors();
    if (ssl != nullptr) SSL_free(ssl);
    return nullptr;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  SSL_set_bio(ssl, bio, bio);
  const std::string& name = server_name_.empty() ? host : server_name_;
  if (!name.empty() && !is_ip_literal(name)) {
    // SSL_set_tlsext_host_name, without the macro's C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(name.c_str()));
  }
  if (verify_ && !name.empty()) {
    if (is_ip_literal(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set1_host(ssl, name.c_str());
    }
  }
  return ssl;
}

}  // namespace verrou::detail::redis
