// SPDX-License-Identifier: Apache-2.0
// A private PostgreSQL for tests that restart the server or fill it: started with the
// project's scripts/servers/postgres.sh on a port of its own (18000-18999) and a folder of its
// own, so the shared server and the tests running beside this one are never disturbed.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "integration/database/restart_helpers.hpp"

namespace pgtest {

class PrivateServer {
 public:
  PrivateServer()
      : port_(pick()),
        dir_((std::filesystem::temp_directory_path() /
              ("verrou-pg-" + std::to_string(::getpid()) + "-" + std::to_string(port_)))
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
    using std::filesystem::perms;
    std::filesystem::permissions(dir_, perms::owner_all | perms::group_read | perms::group_exec |
                                           perms::others_read | perms::others_exec, ec);
    return run("start");
  }
  bool stop() { return run("stop"); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const {
    return "postgres://verrou:verrou@127.0.0.1:" + std::to_string(port_) + "/verrou";
  }

 private:
  // A free loopback port in 18000-18999, spread by process id so parallel tests differ.
  static int pick() {
    int port = 18000 + static_cast<int>(::getpid() % 1000);
    for (int i = 0; i < 1000 && restart_test::port_in_use(port); ++i) {
      port = port == 18999 ? 18000 : port + 1;
    }
    return port;
  }
  bool run(const std::string& action) {
    const std::string cmd = "VERROU_SERVERS_DIR='" + dir_ + "' VERROU_POSTGRES_PORT=" +
                            std::to_string(port_) + " '" + VERROU_SERVER_SCRIPTS +
                            "/postgres.sh' " + action + " >>'" + dir_ + ".log' 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  int port_;
  std::string dir_;
};

}  // namespace pgtest
