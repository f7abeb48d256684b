// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/connection.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "drivers/redis/redis_errors.hpp"
#include "drivers/redis/tls.hpp"

namespace verrou::detail::redis {

namespace {

// A dead peer on an idle connection (a NAT or load balancer that dropped the flow) is found
// after about 10 + 3 × 5 seconds of silence instead of the system's two hours.
constexpr int kKeepAliveIdleSeconds = 10;
constexpr int kKeepAliveIntervalSeconds = 5;
constexpr int kKeepAliveProbes = 3;

std::string errno_text(int error) { return std::strerror(error); }

int remaining_ms(Deadline deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, 60'000));
}

void set_keepalive(int fd) {
  int one = 1;
  int idle = kKeepAliveIdleSeconds;
  int interval = kKeepAliveIntervalSeconds;
  int probes = kKeepAliveProbes;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

}  // namespace

Target tcp_target(const std::string& host, std::uint16_t port) {
  Target t;
  t.host = host;
  t.port = port;
  t.label = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                 : host + ":" + std::to_string(port);
  return t;
}

Connection::Connection(Target target, const RedisConnection& options, const TlsContext* tls)
    : target_(std::move(target)), options_(options), tls_(tls) {}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // no close_notify: it could block on a dead peer
  if (fd_ >= 0) {
    // A reset instead of an orderly close: commands still queued in this host's socket
    // buffer are dropped rather than delivered after the store gave up on them.
    linger reset{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd_);
  }
}

void Connection::fail(const std::string& message, bool sent) { throw IoError{message, sent}; }

void Connection::wake_all() noexcept {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Connection::wait_io(bool for_write, Deadline deadline, const char* what) {
  for (;;) {
    pollfd p{fd_, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    int timeout = remaining_ms(deadline);
    if (timeout == 0) fail(std::string("timed out ") + what);
    int n = ::poll(&p, 1, timeout);
    if (n > 0) return;
    if (n < 0 && errno != EINTR) fail(std::string("poll: ") + errno_text(errno));
  }
}

void Connection::connect_socket(Deadline deadline) {
  if (!target_.unix_socket.empty()) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (target_.unix_socket.size() >= sizeof address.sun_path) {
      fail("socket path too long: " + target_.unix_socket, false);
    }
    std::memcpy(address.sun_path, target_.unix_socket.c_str(), target_.unix_socket.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket: " + errno_text(errno), false);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS && errno != EAGAIN) {
      fail("connect: " + errno_text(errno), false);
    }
    wait_io(true, deadline, "connecting");
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(target_.port);
  if (int rc = ::getaddrinfo(target_.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    fail("cannot resolve host: " + std::string(gai_strerror(rc)), false);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = "socket: " + errno_text(errno);
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = "connect: " + errno_text(errno);
      ::close(fd);
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = 0;
    do {
      n = ::poll(&p, 1, remaining_ms(deadline));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      last_error = n == 0 ? "timed out connecting" : "poll: " + errno_text(errno);
      ::close(fd);
      continue;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      last_error = "connect: " + errno_text(error);
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_keepalive(fd);
    fd_ = fd;
    return;
  }
  fail(last_error, false);
}

void Connection::handshake_tls(Deadline deadline) {
  std::string error;
  ssl_ = tls_->new_session(fd_, target_.host, error);
  if (ssl_ == nullptr) fail(error, false);
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(ssl_);
    if (rc == 1) return;
    int code = SSL_get_error(ssl_, rc);
    if (code == SSL_ERROR_WANT_READ) {
      wait_io(false, deadline, "in the TLS handshake");
    } else if (code == SSL_ERROR_WANT_WRITE) {
      wait_io(true, deadline, "in the TLS handshake");
    } else {
      long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        fail(std::string("TLS certificate verification failed: ") +
                 X509_verify_cert_error_string(verify) +
                 " (check ca_file= and the server name; insecure_skip_verify=true disables the check)",
             false);
      }
      std::string detail = openssl_errors();
      if (detail.empty()) detail = code == SSL_ERROR_SYSCALL ? "connection closed" : "error";
      fail("TLS handshake failed: " + detail, false);
    }
  }
}

void Connection::open(Deadline deadline) {
  try {
    connect_socket(deadline);
    if (tls_ != nullptr) handshake_tls(deadline);
    std::vector<std::vector<std::string>> setup;
    if (!options_.password.empty() || !options_.username.empty()) {
      if (options_.username.empty()) {
        setup.push_back({"AUTH", options_.password});
      } else {
        // A user without a password is an ACL user marked `nopass`: it takes any password.
        setup.push_back({"AUTH", options_.username, options_.password});
      }
    }
    if (options_.database != 0) setup.push_back({"SELECT", std::to_string(options_.database)});
    if (setup.empty()) return;
    auto replies = round_trip(setup, deadline);
    for (std::size_t i = 0; i < replies.size(); ++i) {
      if (replies[i].is_error()) {
        fail((setup[i][0] == "AUTH" ? "authentication refused: " : "SELECT refused: ") +
             replies[i].str);
      }
    }
  } catch (IoError& e) {
    e.sent = false;  // none of the caller's commands went out on this connection
    throw;
  }
}

void Connection::send_all(std::string_view data, Deadline deadline, std::size_t& written) {
  written = 0;
  while (written < data.size()) {
    const char* at = data.data() + written;
    const std::size_t left = data.size() - written;
    if (ssl_ != nullptr) {
      int n = 0;
      int code = SSL_ERROR_NONE;
      std::string detail;
      {
        std::lock_guard lock(tls_mutex_);
        ERR_clear_error();
        n = SSL_write(ssl_, at, static_cast<int>(std::min<std::size_t>(left, 1U << 20U)));
        if (n <= 0) {
          code = SSL_get_error(ssl_, n);
          detail = openssl_errors();
        }
      }
      if (n > 0) {
        written += static_cast<std::size_t>(n);
      } else if (code == SSL_ERROR_WANT_WRITE) {
        wait_io(true, deadline, "sending");
      } else if (code == SSL_ERROR_WANT_READ) {
        wait_io(false, deadline, "sending");
      } else {
        fail("send: " + (detail.empty() ? std::string("connection closed") : detail));
      }
      continue;
    }
    ssize_t n = ::send(fd_, at, left, MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_io(true, deadline, "sending");
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      fail("send: " + errno_text(errno));
    }
  }
}

bool Connection::receive() {
  char buffer[16 * 1024];
  bool got = false;
  if (ssl_ != nullptr) {
    std::lock_guard lock(tls_mutex_);
    for (;;) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) {
        got = true;
        if (!reader_.feed(buffer, static_cast<std::size_t>(n))) fail("bad reply from server");
        // Decrypted bytes OpenSSL holds are invisible to poll: take them now.
        if (SSL_pending(ssl_) > 0) continue;
        return true;
      }
      int code = SSL_get_error(ssl_, n);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return got;
      if (code == SSL_ERROR_ZERO_RETURN) fail("connection closed by the server");
      std::string detail = openssl_errors();
      fail(detail.empty() ? "connection closed by the server" : "TLS: " + detail);
    }
  }
  for (;;) {
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      got = true;
      if (!reader_.feed(buffer, static_cast<std::size_t>(n))) fail("bad reply from server");
      if (static_cast<std::size_t>(n) == sizeof buffer) continue;  // maybe more waiting
      return true;
    }
    if (n == 0) fail("connection closed by the server");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return got;
    fail("receive: " + errno_text(errno));
  }
}

std::optional<Reply> Connection::next_reply() {
  try {
    return reader_.next();
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
}

Connection::Ready Connection::wait_readable(Deadline deadline, int wake_fd) {
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int timeout = remaining_ms(deadline);
    if (timeout == 0) return Ready::kTimedOut;
    int n = ::poll(p, wake_fd >= 0 ? 2 : 1, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("poll: " + errno_text(errno));
    }
    if (n == 0) continue;  // rounding: look at the clock again
    if (p[0].revents != 0) return Ready::kReadable;
    return Ready::kWoken;
  }
}

bool Connection::readable_now() {
  pollfd p{fd_, POLLIN, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail("poll: " + errno_text(errno));
  return n > 0;
}

std::vector<Reply> Connection::round_trip(const std::vector<std::vector<std::string>>& commands,
                                          Deadline deadline) {
  std::string out;
  for (const auto& command : commands) append_command(out, command);
  std::size_t written = 0;
  send_all(out, deadline, written);
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  while (replies.size() < commands.size()) {
    if (auto reply = next_reply()) {
      replies.push_back(std::move(*reply));
      continue;
    }
    if (wait_readable(deadline) == Ready::kTimedOut) fail("timed out waiting for the reply");
    receive();
  }
  return replies;
}

}  // namespace verrou::detail::redis
