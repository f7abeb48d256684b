// SPDX-License-Identifier: Apache-2.0
// A private database server for the restart tests: started, stopped and started again with
// the project's own scripts/servers/<name>.sh, on a port and folder of its own, so the
// shared test servers (and tests running beside this one) are never disturbed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <verrou/store.hpp>

namespace restart_test {

inline bool port_in_use(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return true;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool used = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return used;
}

// A free loopback port in [base, base + 500): below the ephemeral range (32768+), where a
// client socket could hold the port. The restart tests use 22500-22999, apart from the other
// fault tests' 20000-22399; the fencing restart tests 17000-17499.
inline int pick_port(int offset, int base = 22500) {
  int port = base + static_cast<int>(::getpid() % 250) * 2 + offset;
  for (int i = 0; i < 250 && port_in_use(port); ++i) {
    port = port + 2 > base + 499 ? base + offset : port + 2;
  }
  return port;
}

// The fencing token a fresh acquisition of `key` gets from `store`, which must give tokens.
template <class Store>
std::uint64_t token_of_acquisition(Store& store, const std::string& key, const std::string& owner,
                                   bool release) {
  auto* fencing = dynamic_cast<verrou::FencingLockStore*>(store.get());
  if (fencing == nullptr) throw std::logic_error("the store gives no fencing tokens");
  const auto token = fencing->save_fenced(key, owner, std::chrono::seconds(60));
  if (!token) throw std::logic_error("the lock " + key + " is held");
  if (release) store->remove(key, owner);
  return *token;
}

class PrivateServer {
 public:
  // `script`: postgres or mariadb; `port_var`: the script's port variable; `offset`: 0 or 1,
  // so the two servers' tests never pick the same port; `base`: see pick_port.
  PrivateServer(std::string script, std::string port_var, int offset, int base = 22500)
      : script_(std::string(VERROU_SERVER_SCRIPTS) + "/" + std::move(script) + ".sh"),
        port_var_(std::move(port_var)),
        port_(pick_port(offset, base)),
        dir_((std::filesystem::temp_directory_path() /
              ("verrou-restart-" + std::to_string(::getpid()) + "-" + std::to_string(port_)))
                 .string()) {}
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;
  ~PrivateServer() {
    run("stop");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove(dir_ + ".log", ec);
  }

  bool start() {
    // The server runs as the postgres user when the tests run as root: it must reach here.
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all |
                                           std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec |
                                           std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec, ec);
    return run("start");
  }
  bool stop() { return run("stop"); }
  [[nodiscard]] int port() const { return port_; }
  // Stops and starts the server, as an operator restarting it would (a clean shutdown).
  bool restart() { return stop() && start(); }

 private:
  bool run(const std::string& action) {
    const std::string cmd = "VERROU_SERVERS_DIR='" + dir_ + "' " + port_var_ + "=" +
                            std::to_string(port_) + " '" + script_ + "' " + action +
                            " >>'" + dir_ + ".log' 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  std::string script_;
  std::string port_var_;
  int port_;
  std::string dir_;
};

}  // namespace restart_test
