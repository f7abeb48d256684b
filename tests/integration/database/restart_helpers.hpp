// SPDX-License-Identifier: Apache-2.0
// A private database server for the restart tests: started, stopped and started again with
// the project's own scripts/servers/<name>.sh, on a port and folder of its own, so the
// shared test servers (and tests running beside this one) are never disturbed.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace restart_test {

class PrivateServer {
 public:
  // `script`: postgres or mariadb; `port_var`: the script's port variable.
  PrivateServer(std::string script, std::string port_var, int base_port)
      : script_(std::string(VERROU_SERVER_SCRIPTS) + "/" + std::move(script) + ".sh"),
        port_var_(std::move(port_var)),
        port_(base_port + static_cast<int>(::getpid() % 500)),
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

  bool start() { return run("start"); }
  bool stop() { return run("stop"); }
  [[nodiscard]] int port() const { return port_; }

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
