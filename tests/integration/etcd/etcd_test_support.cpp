// SPDX-License-Identifier: Apache-2.0
#include "etcd_test_support.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"
#include "verrou/testing/server.hpp"

extern char** environ;

namespace verrou_test::etcd {
namespace {

bool port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

std::string shared_url() {
  return verrou::conformance::env_or("VERROU_ETCD_URL", "etcd://127.0.0.1:2379");
}

std::string shared_base() {
  const auto options = verrou::EtcdStoreOptions::from_url(shared_url());
  return std::string(options.tls ? "https://" : "http://") + options.endpoints.front().host + ":" +
         std::to_string(options.endpoints.front().port);
}

std::optional<std::string> shared_unavailable() {
  // Asked once per run, with a short deadline, so an absent etcd skips every test quickly.
  static const std::optional<std::string> why = []() -> std::optional<std::string> {
    try {
      auto options = verrou::EtcdStoreOptions::from_url(shared_url());
      options.operation_timeout = std::chrono::seconds(2);
      verrou::EtcdStore(options).ping();
      return std::nullopt;
    } catch (const verrou::Error& e) {
      return "no etcd at " + shared_url() + " (scripts/servers.sh start etcd): " + e.what();
    }
  }();
  return why;
}

std::string b64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (byte(i) << 16U) | (byte(i + 1) << 8U) | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> static_cast<unsigned>(s)) & 63U];
  }
  if (i < bytes.size()) {
    unsigned n = byte(i) << 16U;
    if (i + 1 < bytes.size()) n |= byte(i + 1) << 8U;
    out += kAlphabet[(n >> 18U) & 63U];
    out += kAlphabet[(n >> 12U) & 63U];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::string unb64(const std::string& text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (v < 0) continue;
    buffer = (buffer << 6U) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> static_cast<unsigned>(bits)) & 0xffU);
    }
  }
  return out;
}

nlohmann::json post(const std::string& base, const std::string& path, const nlohmann::json& body,
                    const std::string& token) {
  CURL* curl = curl_easy_init();
  std::string response;
  const std::string text = body.dump();
  const std::string url = base + path;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) return {{"transport_error", curl_easy_strerror(code)}};
  auto parsed = nlohmann::json::parse(response, nullptr, false);
  if (parsed.is_discarded()) return {{"transport_error", "not JSON: " + response}};
  return parsed;
}

nlohmann::json raw_get(const std::string& base, const std::string& key) {
  const auto r = post(base, "/v3/kv/range", {{"key", b64(key)}});
  if (!r.contains("kvs") || r["kvs"].empty()) return nullptr;
  return r["kvs"][0];
}

long long lease_ttl_left(const std::string& base, long long id) {
  const auto r = post(base, "/v3/lease/timetolive", {{"ID", std::to_string(id)}});
  if (!r.contains("TTL")) return -1;
  return std::stoll(r["TTL"].get<std::string>());
}

long long lease_granted_ttl(const std::string& base, long long id) {
  const auto r = post(base, "/v3/lease/timetolive", {{"ID", std::to_string(id)}});
  if (!r.contains("grantedTTL")) return -1;
  return std::stoll(r["grantedTTL"].get<std::string>());
}

int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

PrivateEtcd::PrivateEtcd(std::vector<std::string> extra, std::optional<Tls> tls)
    : tls_(tls.has_value()), tls_files_(std::move(tls)) {
  if (shell("command -v etcd >/dev/null 2>&1") != 0) {
    why_not_ = "etcd is not installed (Debian package etcd-server; scripts/install-deps.sh)";
    return;
  }
  // Ports 20000-20499, two per member, starting from one that depends on the process.
  int base = 20000 + static_cast<int>(::getpid() % 125) * 4;
  for (int tries = 0; tries < 125; ++tries) {
    if (port_free(base) && port_free(base + 1)) break;
    base = base + 4 >= 20500 ? 20000 : base + 4;
  }
  port_ = base;
  char templ[] = "/tmp/verrou-etcd-test.XXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    why_not_ = "mkdtemp failed";
    return;
  }
  dir_ = templ;
  const std::string scheme = tls_ ? "https://" : "http://";
  const std::string client = scheme + "127.0.0.1:" + std::to_string(port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(port_ + 1);
  std::vector<std::string> args = {"etcd",
                                   "--name", "private",
                                   "--data-dir", dir_ + "/data",
                                   "--listen-client-urls", client,
                                   "--advertise-client-urls", client,
                                   "--listen-peer-urls", peer,
                                   "--initial-advertise-peer-urls", peer,
                                   "--initial-cluster", "private=" + peer,
                                   "--unsafe-no-fsync",
                                   "--log-level", "error"};
  if (tls_files_) {
    args.insert(args.end(), {"--cert-file", tls_files_->cert_file, "--key-file",
                             tls_files_->key_file, "--trusted-ca-file", tls_files_->ca_file});
    if (tls_files_->client_cert_auth) args.emplace_back("--client-cert-auth");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  args_ = std::move(args);
  if (!spawn()) why_not_ = "the private etcd did not become healthy; see " + dir_ + "/etcd.log";
}

bool PrivateEtcd::spawn() {
  std::vector<char*> argv;
  for (auto& a : args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  const std::string log = dir_ + "/etcd.log";
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  const int spawned = ::posix_spawnp(&pid_, "etcd", &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (spawned != 0) {
    pid_ = -1;
    return false;
  }
  return wait_healthy();
}

bool PrivateEtcd::restart() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  return spawn();
}

PrivateEtcd::~PrivateEtcd() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

int PrivateEtcd::etcdctl(const std::string& args) const {
  std::string command = "etcdctl --endpoints=" + std::string(tls_ ? "https://" : "http://") +
                        host_port() + " --command-timeout=5s ";
  if (tls_files_) {
    const std::string d = std::filesystem::path(tls_files_->ca_file).parent_path();
    command += "--cacert=" + tls_files_->ca_file + " --cert=" + d + "/client.pem --key=" + d +
               "/client-key.pem ";
  }
  return shell(command + args + " >/dev/null 2>&1");
}

bool PrivateEtcd::wait_healthy() const {
  for (int i = 0; i < 150; ++i) {
    if (etcdctl("endpoint health") == 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool make_certificates(const std::string& dir) {
  const std::string d = "'" + dir + "'";
  const std::string quiet = " >/dev/null 2>&1";
  auto ca = [&](const std::string& name) {
    return shell("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name +
                 " -keyout " + d + "/" + name + "-key.pem -out " + d + "/" + name + ".pem" +
                 quiet) == 0;
  };
  auto leaf = [&](const std::string& name, const std::string& ext) {
    return shell("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + d + "/" +
                 name + "-key.pem -out " + d + "/" + name + ".csr" + quiet) == 0 &&
           shell("printf '" + ext + "' > " + d + "/" + name + ".ext") == 0 &&
           shell("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " +
                 d + "/ca-key.pem -CAcreateserial -days 2 -extfile " + d + "/" + name +
                 ".ext -out " + d + "/" + name + ".pem" + quiet) == 0;
  };
  return ca("ca") && ca("other-ca") &&
         leaf("server", "subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n") &&
         leaf("client", "extendedKeyUsage=clientAuth\\n");
}

}  // namespace verrou_test::etcd
