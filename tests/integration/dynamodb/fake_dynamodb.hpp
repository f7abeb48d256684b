// SPDX-License-Identifier: Apache-2.0
// A scripted stand-in for DynamoDB on loopback: answers each request with the next scripted
// response (the last one repeats), or with what a responder function returns (e.g. a proxy to
// a real server that loses one answer), and records what it was sent. For the retry and error
// paths a real server cannot be made to take.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace verrou::dynamodb_test {

class FakeDynamoDb {
 public:
  struct Response {
    int status = 200;
    std::string body = "{}";
  };
  struct Request {
    std::string first_line;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
  };

  // A DynamoDB error answer: {"__type": "com.amazonaws.dynamodb.v20120810#<type>", ...}.
  static Response error(int status, const std::string& type, const std::string& message) {
    return {status, R"({"__type":"com.amazonaws.dynamodb.v20120810#)" + type +
                        R"(","message":")" + message + R"("})"};
  }

  // Answers request number `index` (from 0); called on the server's thread, one at a time.
  using Responder = std::function<Response(const Request& request, std::size_t index)>;

  explicit FakeDynamoDb(std::vector<Response> script) : script_(std::move(script)) { start(); }
  explicit FakeDynamoDb(Responder responder) : responder_(std::move(responder)) { start(); }

  ~FakeDynamoDb() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  FakeDynamoDb(const FakeDynamoDb&) = delete;
  FakeDynamoDb& operator=(const FakeDynamoDb&) = delete;

  [[nodiscard]] std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

  [[nodiscard]] std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void start() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(listener_, 16);
    socklen_t size = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  bool wait_readable(int fd) const {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      const int n = ::poll(&p, 1, 20);
      if (n > 0) return true;
      if (n < 0) return false;
    }
    return false;
  }

  void serve() {
    while (wait_readable(listener_)) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string buffer;
      while (true) {
        Request request;
        if (!read_request(fd, buffer, request)) break;
        Response response;
        if (responder_) {
          std::size_t index = 0;
          {
            std::lock_guard lock(mutex_);
            index = requests_.size();
            requests_.push_back(request);
          }
          response = responder_(request, index);
        } else {
          std::lock_guard lock(mutex_);
          const std::size_t i = std::min(requests_.size(), script_.size() - 1);
          response = script_[i];
          requests_.push_back(std::move(request));
        }
        const std::string reply = "HTTP/1.1 " + std::to_string(response.status) +
                                  " Scripted\r\nContent-Type: application/x-amz-json-1.0\r\n"
                                  "Content-Length: " + std::to_string(response.body.size()) +
                                  "\r\n\r\n" + response.body;
        if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
      }
      ::close(fd);
    }
  }

  bool read_more(int fd, std::string& buffer) const {
    if (!wait_readable(fd)) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  bool read_request(int fd, std::string& buffer, Request& request) const {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more(fd, buffer)) return false;
    }
    const std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    std::size_t pos = head.find("\r\n");
    request.first_line = head.substr(0, pos);
    while (pos != std::string::npos && pos < head.size()) {
      const std::size_t start = pos + 2;
      pos = head.find("\r\n", start);
      const std::string line = head.substr(start, pos == std::string::npos ? std::string::npos
                                                                           : pos - start);
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      request.headers[name] = value;
    }
    std::size_t length = 0;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      length = std::stoul(it->second);
    }
    while (buffer.size() < length) {
      if (!read_more(fd, buffer)) return false;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    return true;
  }

  std::vector<Response> script_;
  Responder responder_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace verrou::dynamodb_test
