// SPDX-License-Identifier: Apache-2.0
// Helpers of the etcd store's tests: the shared member's address, raw access to etcd's JSON
// gateway (to look at what the store wrote, or write what it did not), and private members
// started by a test on its own ports (20000-20499) and data folder.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace verrou_test::etcd {

// VERROU_ETCD_URL, default etcd://127.0.0.1:2379.
std::string shared_url();
// The shared member's "http://host:port" (the first member of shared_url()).
std::string shared_base();
// nullopt when the shared member answers a quorum read; otherwise why not.
std::optional<std::string> shared_unavailable();

// POSTs JSON to an etcd gateway and returns the answer's JSON (or {"transport_error": …}).
nlohmann::json post(const std::string& base, const std::string& path, const nlohmann::json& body,
                    const std::string& token = "");
std::string b64(const std::string& bytes);
std::string unb64(const std::string& text);

// The key-value at `key` as etcd has it (fields as the gateway gives them), or null.
nlohmann::json raw_get(const std::string& base, const std::string& key);
// Seconds left on lease `id` (-1: gone).
long long lease_ttl_left(const std::string& base, long long id);
// The seconds lease `id` was granted for (-1: gone).
long long lease_granted_ttl(const std::string& base, long long id);

// Runs a shell command; returns its exit status.
int shell(const std::string& command);

// A private single-member etcd, stopped (and its data removed) when destroyed.
class PrivateEtcd {
 public:
  struct Tls {
    std::string ca_file, cert_file, key_file;  // server certificate and the CA that signed it
    bool client_cert_auth = false;
  };
  // Starts etcd on free ports with `extra` arguments. `ok()` says whether it serves.
  explicit PrivateEtcd(std::vector<std::string> extra = {}, std::optional<Tls> tls = std::nullopt);
  ~PrivateEtcd();
  PrivateEtcd(const PrivateEtcd&) = delete;
  PrivateEtcd& operator=(const PrivateEtcd&) = delete;

  [[nodiscard]] bool ok() const { return why_not_.empty(); }
  [[nodiscard]] const std::string& why_not() const { return why_not_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  // etcdctl against this member, with `args`; returns the exit status.
  int etcdctl(const std::string& args) const;
  // Stops the member (SIGTERM: it flushes its data) and starts it again on the same data.
  bool restart();

 private:
  bool spawn();
  bool wait_healthy() const;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool tls_ = false;
  std::optional<Tls> tls_files_;
  std::string dir_;
  std::string why_not_;
};

// Makes a certificate authority, a server certificate for 127.0.0.1 and a client certificate
// in `dir` with openssl: ca.pem, server.pem, server-key.pem, client.pem, client-key.pem, and a
// second, unrelated authority other-ca.pem. False when openssl failed.
bool make_certificates(const std::string& dir);

}  // namespace verrou_test::etcd
