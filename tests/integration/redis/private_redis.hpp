// SPDX-License-Identifier: Apache-2.0
// A redis-server of a test's own, on a port of its own (16000-16999 where free), stopped,
// started and reconfigured at will: never the shared servers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <verrou/testing/conformance.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

namespace verrou::redis_test {

// A loopback port nobody listens on right now, from 16000-16999 (the range these tests
// keep to), or any the kernel picks when that range is taken.
inline std::uint16_t free_port() {
  static thread_local std::mt19937 random(std::random_device{}());
  auto bindable = [](std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ok ? ntohs(address.sin_port) : std::uint16_t{0};
  };
  for (int i = 0; i < 50; ++i) {
    auto port = static_cast<std::uint16_t>(16000 + random() % 1000);
    if (bindable(port) != 0) return port;
  }
  return bindable(0);
}

inline bool shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

inline std::string shell_output(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen((command + " 2>&1").c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class PrivateRedis {
 public:
  /// `extra`: more redis-server arguments (e.g. "--appendonly yes", "--aclfile F").
  explicit PrivateRedis(std::string extra = {}) : port_(free_port()), extra_(std::move(extra)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("verrou-redis-private-" + conformance::unique_suffix());
    std::filesystem::create_directories(dir_);
  }
  ~PrivateRedis() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  PrivateRedis(const PrivateRedis&) = delete;
  PrivateRedis& operator=(const PrivateRedis&) = delete;

  static bool available() { return shell("redis-server --version") && shell("redis-cli --version"); }

  bool start() {
    shell("redis-server --port " + std::to_string(port_) + " --bind 127.0.0.1 --daemonize yes" +
          " --pidfile " + (dir_ / "redis.pid").string() + " --dir " + dir_.string() +
          " --logfile " + (dir_ / "redis.log").string() + " --save '' --appendonly no " + extra_);
    for (int i = 0; i < 100; ++i) {
      if (ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  /// Stops the server; `save`: as `SHUTDOWN SAVE` (keeps an RDB file), else nothing is kept.
  void stop(bool save = false) {
    if (!ping()) return;
    (void)cli(save ? "shutdown save" : "shutdown nosave");
    for (int i = 0; i < 100 && ping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  [[nodiscard]] bool ping() const { return cli_output("ping") == "PONG"; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// A URL of this server with short timeouts.
  [[nodiscard]] std::string url(const std::string& query = "connect_timeout=1s&command_timeout=1s") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + (query.empty() ? "" : "?" + query);
  }
  /// Runs redis-cli against this server (as `auth`, e.g. "--user u --pass p"); true on success.
  bool cli(const std::string& args) const {
    return shell("redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + auth_ + " " + args);
  }
  /// redis-cli's output, without the final newline.
  [[nodiscard]] std::string cli_output(const std::string& args) const {
    return shell_output("redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + auth_ +
                        " --no-auth-warning " + args);
  }
  /// Credentials for redis-cli, once the default user is switched off.
  void set_cli_auth(std::string auth) { auth_ = std::move(auth); }

 private:
  std::uint16_t port_;
  std::string extra_;
  std::string auth_;
  std::filesystem::path dir_;
};

}  // namespace verrou::redis_test
