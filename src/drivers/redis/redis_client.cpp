// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/redis_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "verrou/errors.hpp"

namespace verrou::detail::redis {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// The OpenSSL error queue as text (emptied), for messages.
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

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

int remaining_ms(Deadline deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, 60'000));
}

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// A BIO over the store's non-blocking socket that sends with MSG_NOSIGNAL, so a server that
// went away gives an error instead of killing the process with SIGPIPE (OpenSSL's own socket
// BIO uses write(2)).
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


// hiredis 0.14 allocates an array reply's element table as soon as it reads the header, so a
// broken or hostile server announcing "*844674456" would make it ask for gigabytes. Replies
// this client expects are small (CLUSTER SLOTS is the largest): refuse huge arrays instead.
constexpr int kMaxReplyElements = 1 << 20;
thread_local int refused_elements = 0;
void* (*hiredis_create_array)(const redisReadTask*, int) = nullptr;

void* bounded_create_array(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxReplyElements) {
    refused_elements = elements;
    return nullptr;  // the reader reports an error; next_reply explains it
  }
  return hiredis_create_array(task, elements);
}

const redisReplyObjectFunctions* bounded_reply_functions() {
  static const redisReplyObjectFunctions functions = [] {
    redisReader* probe = redisReaderCreate();
    if (probe == nullptr) throw LockStorageError("Redis client: out of memory");
    redisReplyObjectFunctions f = *probe->fn;
    redisReaderFree(probe);
    hiredis_create_array = f.createArray;
    f.createArray = &bounded_create_array;
    return f;
  }();
  return &functions;
}

}  // namespace

void storage_failure(std::string_view server, std::string_view operation, std::string_view detail) {
  std::string message = "redis ";
  message += server;
  message += ": ";
  message += operation;
  message += " failed: ";
  message += detail;
  throw LockStorageError(message);
}

std::string Reply::describe() const {
  switch (type) {
    case Type::kString: return "\"" + str.substr(0, 100) + "\"";
    case Type::kStatus: return str;
    case Type::kError: return "(error) " + str;
    case Type::kInteger: return "(integer) " + std::to_string(integer);
    case Type::kNil: return "(nil)";
    case Type::kArray: return "(array of " + std::to_string(elements.size()) + ")";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// TLS

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

// ---------------------------------------------------------------------------------------
// Connection

Connection::Connection(const Target& target, const RedisConnection& options, const TlsContext* tls)
    : target_(target), options_(options), tls_(tls) {}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // no close_notify: it could block on a dead peer
  if (fd_ >= 0) ::close(fd_);
  if (reader_ != nullptr) redisReaderFree(reader_);
}

void Connection::fail(const std::string& message) {
  broken_ = true;
  throw IoError{message};
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
      fail("socket path too long: " + target_.unix_socket);
    }
    std::memcpy(address.sun_path, target_.unix_socket.c_str(), target_.unix_socket.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket: " + errno_text(errno));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS && errno != EAGAIN) {
      fail("connect: " + errno_text(errno));
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
    fail("cannot resolve host: " + std::string(gai_strerror(rc)));
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
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    fd_ = fd;
    return;
  }
  fail(last_error);
}

void Connection::handshake_tls(Deadline deadline) {
  ssl_ = SSL_new(tls_->get());
  if (ssl_ == nullptr) fail("TLS: " + openssl_errors());
  BIO* bio = BIO_new(socket_bio_method());
  if (bio == nullptr) fail("TLS: " + openssl_errors());
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd_)));
  SSL_set_bio(ssl_, bio, bio);
  const std::string& name = tls_->server_name().empty() ? target_.host : tls_->server_name();
  if (!name.empty() && !is_ip_literal(name)) {
    // SSL_set_tlsext_host_name, without the macro's C cast.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(name.c_str()));
  }
  if (tls_->verify() && !name.empty()) {
    if (is_ip_literal(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      SSL_set1_host(ssl_, name.c_str());
    }
  }
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(ssl_);
    if (rc == 1) return;
    int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ) {
      wait_io(false, deadline, "in the TLS handshake");
    } else if (error == SSL_ERROR_WANT_WRITE) {
      wait_io(true, deadline, "in the TLS handshake");
    } else {
      long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        fail(std::string("TLS certificate verification failed: ") +
             X509_verify_cert_error_string(verify) +
             " (check ca_file= and the server name; insecure_skip_verify=true disables the check)");
      }
      std::string detail = openssl_errors();
      if (detail.empty()) detail = error == SSL_ERROR_SYSCALL ? "connection closed" : "error";
      fail("TLS handshake failed: " + detail);
    }
  }
}

void Connection::open(Deadline deadline) {
  reader_ = redisReaderCreate();
  if (reader_ == nullptr) fail("out of memory");
  reader_->fn = const_cast<redisReplyObjectFunctions*>(bounded_reply_functions());
  connect_socket(deadline);
  if (tls_ != nullptr) handshake_tls(deadline);
  std::vector<std::vector<std::string>> setup;
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      setup.push_back({"AUTH", options_.password});
    } else {
      setup.push_back({"AUTH", options_.username, options_.password});
    }
  }
  if (options_.database != 0) setup.push_back({"SELECT", std::to_string(options_.database)});
  if (setup.empty()) return;
  auto replies = run(setup, deadline);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_error()) {
      broken_ = true;
      fail((setup[i][0] == "AUTH" ? "authentication refused: " : "SELECT refused: ") + replies[i].str);
    }
  }
}

bool Connection::healthy() {
  if (broken_ || fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) == 0) return true;
  // Readable while idle: the server closed the connection, or (TLS 1.3) sent session
  // tickets. Anything that is not pure TLS housekeeping means the connection is unusable.
  if (ssl_ != nullptr) {
    char byte;
    ERR_clear_error();
    int n = SSL_read(ssl_, &byte, 1);
    if (n <= 0 && SSL_get_error(ssl_, n) == SSL_ERROR_WANT_READ) return true;
    broken_ = true;
    return false;
  }
  broken_ = true;
  return false;
}

void Connection::write_all(const char* data, std::size_t size, Deadline deadline) {
  while (size > 0) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 20)));
      if (n > 0) {
        data += n;
        size -= static_cast<std::size_t>(n);
        continue;
      }
      int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_WRITE) {
        wait_io(true, deadline, "sending");
      } else if (error == SSL_ERROR_WANT_READ) {
        wait_io(false, deadline, "sending");
      } else {
        std::string detail = openssl_errors();
        fail("send: " + (detail.empty() ? errno_text(errno) : detail));
      }
      continue;
    }
    ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_io(true, deadline, "sending");
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      fail("send: " + errno_text(errno));
    }
  }
}

bool Connection::fill(Deadline deadline, int wake_fd) {
  char buffer[16 * 1024];
  for (;;) {
    bool want_write = false;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) {
        if (redisReaderFeed(reader_, buffer, static_cast<std::size_t>(n)) != REDIS_OK) {
          fail("bad reply from server");
        }
        return true;
      }
      int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_ZERO_RETURN) fail("connection closed by the server");
      if (error == SSL_ERROR_WANT_WRITE) {
        want_write = true;
      } else if (error != SSL_ERROR_WANT_READ) {
        std::string detail = openssl_errors();
        fail(detail.empty() ? "connection closed by the server" : "TLS: " + detail);
      }
    } else {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        if (redisReaderFeed(reader_, buffer, static_cast<std::size_t>(n)) != REDIS_OK) {
          fail("bad reply from server");
        }
        return true;
      }
      if (n == 0) fail("connection closed by the server");
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) fail("receive: " + errno_text(errno));
    }
    pollfd p[2] = {{fd_, static_cast<short>(want_write ? POLLOUT : POLLIN), 0}, {wake_fd, POLLIN, 0}};
    int timeout = remaining_ms(deadline);
    if (timeout == 0) return false;
    int n = ::poll(p, wake_fd >= 0 ? 2 : 1, timeout);
    if (n < 0 && errno != EINTR) fail("poll: " + errno_text(errno));
    if (n == 0) return false;
    if (wake_fd >= 0 && (p[1].revents & POLLIN) != 0 && p[0].revents == 0) return false;
  }
}

std::optional<Reply> Connection::next_reply() {
  void* raw = nullptr;
  refused_elements = 0;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    if (refused_elements != 0) {
      fail("bad reply from server: an array of " + std::to_string(refused_elements) +
           " elements, more than the " + std::to_string(kMaxReplyElements) +
           " a lock command can receive");
    }
    fail(std::string("bad reply from server: ") + reader_->errstr);
  }
  if (raw == nullptr) return std::nullopt;
  Reply reply = convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return reply;
}

void Connection::send(const std::vector<std::string>& command, Deadline deadline) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(command.size());
  lengths.reserve(command.size());
  for (const auto& a : command) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  int length = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                      lengths.data());
  if (length < 0) fail("out of memory");
  std::unique_ptr<char, decltype(&redisFreeCommand)> owned(formatted, redisFreeCommand);
  write_all(formatted, static_cast<std::size_t>(length), deadline);
}

std::vector<Reply> Connection::run(const std::vector<std::vector<std::string>>& commands,
                                   Deadline deadline) {
  if (broken_) fail("connection already failed");
  std::string out;
  for (const auto& command : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : command) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    char* formatted = nullptr;
    int length = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                        lengths.data());
    if (length < 0) fail("out of memory");
    out.append(formatted, static_cast<std::size_t>(length));
    redisFreeCommand(formatted);
  }
  write_all(out.data(), out.size(), deadline);
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  while (replies.size() < commands.size()) {
    if (auto reply = next_reply()) {
      replies.push_back(std::move(*reply));
      continue;
    }
    if (!fill(deadline, -1)) fail("timed out waiting for the reply");
  }
  return replies;
}

Reply Connection::run(const std::vector<std::string>& command, Deadline deadline) {
  return std::move(run(std::vector<std::vector<std::string>>{command}, deadline).front());
}

std::vector<Reply> Connection::read_some(Deadline deadline, int wake_fd) {
  std::vector<Reply> replies;
  for (;;) {
    while (auto reply = next_reply()) replies.push_back(std::move(*reply));
    if (!replies.empty()) return replies;
    if (!fill(deadline, wake_fd)) return replies;
  }
}

// ---------------------------------------------------------------------------------------
// Pool

Pool::Lease Pool::take() {
  const Deadline deadline = Clock::now() + options_.connect_timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      if (connection->healthy()) return Lease(*this, std::move(connection));
      connection.reset();  // closed by the server while idle: replace it
      lock.lock();
      open_--;
    }
    if (open_ < options_.pool_size) break;
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
      throw IoError{"all " + std::to_string(options_.pool_size) +
                    " connections of the pool stayed busy for the connect timeout "
                    "(raise pool_size)"};
    }
  }
  open_++;
  lock.unlock();
  try {
    auto connection = std::make_unique<Connection>(target_, options_, tls_);
    connection->open(deadline);
    return Lease(*this, std::move(connection));
  } catch (...) {
    lock.lock();
    open_--;
    returned_.notify_one();
    throw;
  }
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
  bool keep = !connection->broken();
  if (!keep) connection.reset();
  std::lock_guard lock(mutex_);
  if (keep) {
    idle_.push_back(std::move(connection));
  } else {
    open_--;
  }
  returned_.notify_one();
}

// ---------------------------------------------------------------------------------------
// Slots

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  std::uint16_t crc = 0;
  for (char c : key) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint16_t>(static_cast<unsigned char>(c)) << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return static_cast<std::uint16_t>(crc & 16383);
}

// ---------------------------------------------------------------------------------------
// Client

namespace {
constexpr std::size_t kSlots = 16384;

std::string label_of(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// Parses "host:port" from a MOVED/ASK reply; the host may be empty (same as asked) or IPv6.
std::optional<std::pair<std::string, std::uint16_t>> split_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    port = std::stoul(std::string(text.substr(colon + 1)));
  } catch (...) {
    return std::nullopt;
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return std::make_pair(host, static_cast<std::uint16_t>(port));
}

struct Redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string host;
  std::uint16_t port = 0;
};

std::optional<Redirect> parse_redirect(const Reply& reply) {
  bool moved = reply.error_starts_with("MOVED ");
  bool ask = reply.error_starts_with("ASK ");
  if (!moved && !ask) return std::nullopt;
  std::string_view text = reply.str;
  text.remove_prefix(moved ? 6 : 4);
  auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  Redirect r;
  r.ask = ask;
  try {
    r.slot = static_cast<std::uint16_t>(std::stoul(std::string(text.substr(0, space))) % kSlots);
  } catch (...) {
    return std::nullopt;
  }
  auto address = split_address(text.substr(space + 1));
  if (!address) return std::nullopt;
  r.host = address->first;
  r.port = address->second;
  return r;
}
}  // namespace

Client::Client(const RedisConnection& options) : options_(options) {
  if (options_.tls) tls_ = std::make_unique<TlsContext>(options_);
  if (!options_.cluster) {
    Target t;
    if (!options_.unix_socket.empty()) {
      t.unix_socket = options_.unix_socket;
      t.label = "unix:" + options_.unix_socket;
    } else {
      t = target_from(options_.endpoints.front().host, options_.endpoints.front().port);
    }
    standalone_ = std::make_shared<Pool>(t, options_, tls_.get());
  }
}

Client::~Client() = default;

Target Client::target_from(const std::string& host, std::uint16_t port) const {
  Target t;
  t.host = host;
  t.port = port;
  t.label = label_of(host, port);
  return t;
}

std::shared_ptr<Pool> Client::pool_for(const Target& target) {
  std::lock_guard lock(pools_mutex_);
  auto& pool = pools_[target.label];
  if (!pool) pool = std::make_shared<Pool>(target, options_, tls_.get());
  return pool;
}

void Client::refresh_slots(Deadline deadline) {
  std::lock_guard refresh(refresh_mutex_);
  // Another thread may have refreshed while this one waited: once is enough.
  if (Clock::now() - last_refresh_ < std::chrono::milliseconds(50)) {
    std::shared_lock lock(slots_mutex_);
    if (slots_) return;
  }
  std::vector<Target> candidates;
  {
    std::lock_guard lock(pools_mutex_);
    for (const auto& [label, pool] : pools_) candidates.push_back(pool->target());
  }
  for (const auto& e : options_.endpoints) candidates.push_back(target_from(e.host, e.port));
  std::string last_error = "no node to ask";
  std::string last_label = describe();
  for (const auto& candidate : candidates) {
    auto pool = pool_for(candidate);
    Reply reply;
    try {
      auto connection = pool->take();
      reply = connection->run(std::vector<std::string>{"CLUSTER", "SLOTS"},
                              std::min(deadline, Clock::now() + options_.command_timeout));
    } catch (const IoError& e) {
      last_error = e.message;
      last_label = candidate.label;
      continue;
    }
    if (reply.type != Reply::Type::kArray) {
      last_error = "CLUSTER SLOTS answered " + reply.describe() +
                   (reply.error_starts_with("ERR This instance has cluster support disabled")
                        ? " (this is not a cluster: use redis:// instead of redis+cluster://)"
                        : "");
      last_label = candidate.label;
      continue;
    }
    auto slots = std::make_shared<std::vector<std::shared_ptr<Pool>>>(kSlots);
    for (const auto& range : reply.elements) {
      if (range.type != Reply::Type::kArray || range.elements.size() < 3) continue;
      const Reply& master = range.elements[2];
      if (range.elements[0].type != Reply::Type::kInteger ||
          range.elements[1].type != Reply::Type::kInteger || master.type != Reply::Type::kArray ||
          master.elements.size() < 2 || master.elements[1].type != Reply::Type::kInteger) {
        continue;
      }
      std::string host = master.elements[0].str;
      if (host.empty() || host == "?") host = candidate.host;  // "same host as the one asked"
      auto node = pool_for(target_from(host, static_cast<std::uint16_t>(master.elements[1].integer)));
      auto first = static_cast<std::size_t>(std::clamp<long long>(range.elements[0].integer, 0, kSlots - 1));
      auto last = static_cast<std::size_t>(std::clamp<long long>(range.elements[1].integer, 0, kSlots - 1));
      for (std::size_t s = first; s <= last; ++s) (*slots)[s] = node;
    }
    {
      std::unique_lock lock(slots_mutex_);
      slots_ = std::move(slots);
    }
    last_refresh_ = Clock::now();
    return;
  }
  storage_failure(last_label, "CLUSTER SLOTS (reading the cluster's slot map)", last_error);
}

void Client::refresh_slots_soon(Deadline deadline) {
  {
    std::unique_lock refresh(refresh_mutex_, std::try_to_lock);
    if (!refresh.owns_lock() || Clock::now() - last_refresh_ < std::chrono::seconds(1)) return;
  }
  try {
    refresh_slots(deadline);
  } catch (const LockStorageError&) {
    // The patched entry serves meanwhile; the next MOVED tries again.
  }
}

std::shared_ptr<Pool> Client::route(std::uint16_t slot, Deadline deadline) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      std::shared_lock lock(slots_mutex_);
      if (slots_ && (*slots_)[slot]) return (*slots_)[slot];
    }
    refresh_slots(deadline);
  }
  storage_failure(describe(), "routing", "no cluster node serves hash slot " + std::to_string(slot) +
                                             " (is the cluster complete? check CLUSTER INFO)");
}

Reply Client::run(std::string_view key, const std::vector<std::string>& command,
                  std::string_view operation) {
  // Redirections and cluster retries stop here; each reply gets the command timeout.
  Deadline deadline = Clock::now() + options_.command_timeout + options_.connect_timeout;
  if (!options_.cluster) {
    try {
      auto connection = standalone_->take();
      return connection->run(command, Clock::now() + options_.command_timeout);
    } catch (const IoError& e) {
      storage_failure(standalone_->target().label, operation, e.message);
    }
  }
  std::uint16_t slot = key_slot(key);
  std::shared_ptr<Pool> pool = route(slot, deadline);
  bool asking = false;
  std::string last_problem;
  for (int hops = 0;; ++hops) {
    if (Clock::now() >= deadline || hops > 64) {
      storage_failure(pool->target().label, operation,
                      "gave up within the command timeout: " + last_problem);
    }
    std::optional<Pool::Lease> connection;
    try {
      connection.emplace(pool->take());
    } catch (const IoError& e) {
      // Nothing was sent: safe to look for the slot's new master (failover) and try again.
      last_problem = e.message;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      try {
        refresh_slots(deadline);
        pool = route(slot, deadline);
      } catch (const LockStorageError&) {
        storage_failure(pool->target().label, operation, e.message);
      }
      asking = false;
      continue;
    }
    Reply reply;
    try {
      Deadline reply_deadline = Clock::now() + options_.command_timeout;
      if (asking) {
        auto replies = (*connection)->run(
            std::vector<std::vector<std::string>>{{"ASKING"}, command}, reply_deadline);
        reply = std::move(replies[1]);
      } else {
        reply = (*connection)->run(command, reply_deadline);
      }
      connection.reset();
    } catch (const IoError& e) {
      // The command may or may not have run, so it is not retried.
      storage_failure(pool->target().label, operation, e.message);
    }
    if (!reply.is_error()) return reply;
    if (auto redirect = parse_redirect(reply)) {
      std::string host = redirect->host.empty() ? pool->target().host : redirect->host;
      auto target_pool = pool_for(target_from(host, redirect->port));
      last_problem = reply.str;
      if (redirect->ask) {
        pool = target_pool;
        asking = true;
        continue;
      }
      {
        std::unique_lock lock(slots_mutex_);
        if (slots_) {
          auto patched = std::make_shared<std::vector<std::shared_ptr<Pool>>>(*slots_);
          (*patched)[redirect->slot] = target_pool;
          slots_ = std::move(patched);
        }
      }
      pool = target_pool;
      asking = false;
      refresh_slots_soon(deadline);
      continue;
    }
    if (reply.error_starts_with("TRYAGAIN") || reply.error_starts_with("CLUSTERDOWN")) {
      last_problem = reply.str;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (reply.error_starts_with("CLUSTERDOWN")) {
        try {
          refresh_slots(deadline);
          pool = route(slot, deadline);
        } catch (const LockStorageError&) {
        }
        asking = false;
      }
      continue;
    }
    return reply;
  }
}

std::vector<Reply> Client::run_everywhere(const std::vector<std::string>& command,
                                          std::string_view operation) {
  Deadline deadline = Clock::now() + options_.command_timeout;
  std::vector<std::shared_ptr<Pool>> pools;
  if (!options_.cluster) {
    pools.push_back(standalone_);
  } else {
    refresh_slots(deadline);
    std::shared_lock lock(slots_mutex_);
    for (const auto& p : *slots_) {
      if (p && std::find(pools.begin(), pools.end(), p) == pools.end()) pools.push_back(p);
    }
  }
  std::vector<Reply> replies;
  for (const auto& pool : pools) {
    try {
      auto connection = pool->take();
      replies.push_back(connection->run(command, Clock::now() + options_.command_timeout));
    } catch (const IoError& e) {
      storage_failure(pool->target().label, operation, e.message);
    }
  }
  return replies;
}

Target Client::subscriber_target(std::size_t attempt) {
  if (!options_.cluster) return standalone_->target();
  // Any node will do (cluster-wide PUBLISH reaches every node); rotate through the masters
  // known and the seeds, so a node that is down does not keep the subscriber away.
  std::vector<Target> candidates;
  {
    std::shared_lock lock(slots_mutex_);
    if (slots_) {
      for (const auto& p : *slots_) {
        if (p && std::none_of(candidates.begin(), candidates.end(),
                              [&](const Target& t) { return t.label == p->target().label; })) {
          candidates.push_back(p->target());
        }
      }
    }
  }
  for (const auto& e : options_.endpoints) candidates.push_back(target_from(e.host, e.port));
  return candidates[attempt % candidates.size()];
}

}  // namespace verrou::detail::redis
