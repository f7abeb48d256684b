// SPDX-License-Identifier: Apache-2.0
#include "node_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

extern char** environ;

namespace verrou::interop {

std::string node_executable() {
  const char* env = std::getenv("VERROU_NODE");
  if (env != nullptr && *env != '\0') return env;
  return VERROU_INTEROP_NODE;
}

std::string helper_script() { return VERROU_INTEROP_HELPER; }

namespace {
void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}
}  // namespace

NodeHelper::NodeHelper(const std::string& url, const std::string& driver,
                       std::chrono::milliseconds startup) {
  // A helper that dies makes writes to its stdin fail with EPIPE instead of killing the test.
  ::signal(SIGPIPE, SIG_IGN);
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    throw HelperError(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  const std::string node = node_executable();
  const std::string script = helper_script();
  std::vector<char*> argv{const_cast<char*>(node.c_str()), const_cast<char*>(script.c_str()),
                          const_cast<char*>(url.c_str()), const_cast<char*>(driver.c_str()),
                          nullptr};
  const int rc = ::posix_spawnp(&pid_, node.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  if (rc != 0) {
    pid_ = -1;
    close_fd(to_child_);
    close_fd(from_child_);
    throw HelperError("cannot start " + node + ": " + std::strerror(rc) +
                      " (Node.js 20+ is needed; set VERROU_NODE to its path)");
  }
  const auto ready = nlohmann::json::parse(read_line(startup), nullptr, false);
  if (ready.is_discarded() || !ready.value("ready", false)) {
    throw HelperError("the Node.js helper could not open " + url + ": " +
                      (ready.is_object() ? ready.value("error", ready.dump()) : ready.dump()));
  }
}

NodeHelper::~NodeHelper() {
  close_fd(to_child_);  // end of input: the helper closes its store and exits
  if (pid_ > 0) {
    int status = 0;
    bool done = false;
    for (int i = 0; i < 200 && !done; ++i) {
      done = ::waitpid(pid_, &status, WNOHANG) == pid_;
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (!done) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  close_fd(from_child_);
}

std::string NodeHelper::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw HelperError("the Node.js helper did not answer within " +
                        std::to_string(timeout.count()) + " ms");
    }
    pollfd p{from_child_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw HelperError(std::string("poll: ") + std::strerror(errno));
    if (n == 0) continue;
    char chunk[4096];
    const ssize_t got = ::read(from_child_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw HelperError("the Node.js helper exited (see its messages above)");
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
}

nlohmann::json NodeHelper::call(const nlohmann::json& request, std::chrono::milliseconds timeout) {
  send(request);
  return receive(timeout);
}

void NodeHelper::send(const nlohmann::json& request) {
  const std::string line = request.dump() + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::write(to_child_, line.data() + sent, line.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw HelperError(std::string("writing to the Node.js helper: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
}

nlohmann::json NodeHelper::receive(std::chrono::milliseconds timeout) {
  const std::string line = read_line(timeout);
  auto answer = nlohmann::json::parse(line, nullptr, false);
  if (answer.is_discarded() || !answer.is_object() || !answer.contains("ok")) {
    throw HelperError("the Node.js helper answered with garbage: " + line);
  }
  return answer;
}

nlohmann::json NodeHelper::ok(const nlohmann::json& request, std::chrono::milliseconds timeout) {
  auto answer = call(request, timeout);
  if (!answer["ok"].get<bool>()) {
    throw HelperError("Node.js (@verrou/core) failed " + request.dump() + ": " + answer.dump());
  }
  return answer;
}

}  // namespace verrou::interop
