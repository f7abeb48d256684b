// SPDX-License-Identifier: Apache-2.0
// Runs tests/interop/node/helper.mjs (@verrou/core on a store) as a child process and talks to
// it one JSON line at a time.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <sys/types.h>

namespace verrou::interop {

/// Thrown when the helper cannot be started, dies, answers garbage or does not answer in time.
struct HelperError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One Node.js helper process on one store URL. Not thread-safe: one test thread drives it.
class NodeHelper {
 public:
  /// Starts `node helper.mjs url driver` and waits (up to `startup`) for it to report ready.
  /// `driver`: Verrou's SQL store to use, "knex" or "kysely" (ignored by other stores).
  /// Throws HelperError with the helper's own message when it could not open the store.
  explicit NodeHelper(const std::string& url, const std::string& driver = "knex",
                      std::chrono::milliseconds startup = std::chrono::seconds(90));
  ~NodeHelper();
  NodeHelper(const NodeHelper&) = delete;
  NodeHelper& operator=(const NodeHelper&) = delete;

  /// Sends one request, returns the answer (with "ok" true or false). Throws HelperError when
  /// the helper does not answer within `timeout`.
  nlohmann::json call(const nlohmann::json& request,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// The two halves of `call`, for a request that blocks in Node.js (a waiting acquire) while
  /// the test does something else.
  void send(const nlohmann::json& request);
  nlohmann::json receive(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// `call`, throwing HelperError when the answer is not "ok".
  nlohmann::json ok(const nlohmann::json& request,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  std::string read_line(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
};

/// The node executable and helper script this build uses (VERROU_NODE overrides the former).
std::string node_executable();
std::string helper_script();

}  // namespace verrou::interop
