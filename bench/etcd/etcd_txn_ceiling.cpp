// SPDX-License-Identifier: Apache-2.0
//
// etcd_txn_ceiling: how many lock cycles an etcd member serves when nothing but the
// transactions themselves is sent: a bare libcurl loop (one keep-alive connection per worker)
// of what a verrou-cpp cycle sends — a transaction creating a key if absent (with a read of it
// on failure), then a transaction deleting it if its mod revision is unchanged — with no
// library, lease, parsing beyond the revision, or checks around it. etcd's own `benchmark
// txn-put` tool is not packaged in Debian, so this stands in as the ceiling.
//
//   etcd_txn_ceiling [--endpoint http://127.0.0.1:2379] [--seconds 3] [--workers 1]
//
// Prints {"workload":"ceiling","workers":N,"rate":cycles_per_second}.
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string b64(const std::string& in) {
  static constexpr char kA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(in[k])); };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (at(i) << 16U) | (at(i + 1) << 8U) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kA[(n >> static_cast<unsigned>(s)) & 63U];
  }
  if (i < in.size()) {
    unsigned n = at(i) << 16U;
    if (i + 1 < in.size()) n |= at(i + 1) << 8U;
    out += kA[(n >> 18U) & 63U];
    out += kA[(n >> 12U) & 63U];
    out += i + 1 < in.size() ? kA[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// The "revision" of the answer's header.
std::string revision_of(const std::string& body) {
  const auto at = body.find("\"revision\":\"");
  if (at == std::string::npos) return {};
  const auto begin = at + 12;
  return body.substr(begin, body.find('"', begin) - begin);
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint = "http://127.0.0.1:2379";
  double seconds = 3;
  int workers = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--endpoint") endpoint = argv[i + 1];
    else if (name == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (name == "--workers") workers = std::atoi(argv[i + 1]);
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::atomic<long> cycles{0};
  std::atomic<bool> failed{false};
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  const std::string url = endpoint + "/v3/kv/txn";
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      CURL* curl = curl_easy_init();
      curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
      std::string body;
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
      curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
      const std::string key = b64("ceiling/lock/" + std::to_string(::getpid()) + ":" + std::to_string(w));
      const std::string value = b64("verrou-lock/1 never 0123456789abcdef0123456789abcdef\nowner");
      const std::string create =
          R"({"compare":[{"key":")" + key + R"(","target":"CREATE","result":"EQUAL","create_revision":"0"}],)"
          R"("success":[{"request_put":{"key":")" + key + R"(","value":")" + value + R"("}}],)"
          R"("failure":[{"request_range":{"key":")" + key + R"("}}]})";
      while (std::chrono::steady_clock::now() < end) {
        body.clear();
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, create.c_str());
        if (curl_easy_perform(curl) != CURLE_OK || body.find("\"succeeded\":true") == std::string::npos) {
          failed = true;
          break;
        }
        const std::string revision = revision_of(body);
        const std::string release =
            R"({"compare":[{"key":")" + key + R"(","target":"MOD","result":"EQUAL","mod_revision":")" +
            revision + R"("}],"success":[{"request_delete_range":{"key":")" + key +
            R"("}}],"failure":[{"request_range":{"key":")" + key + R"("}}]})";
        body.clear();
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, release.c_str());
        if (curl_easy_perform(curl) != CURLE_OK || body.find("\"succeeded\":true") == std::string::npos) {
          failed = true;
          break;
        }
        cycles++;
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
    });
  }
  for (auto& t : threads) t.join();
  if (failed) {
    std::fprintf(stderr, "etcd_txn_ceiling: a transaction failed (is etcd at %s?)\n", endpoint.c_str());
    return 1;
  }
  std::printf("{\"workload\":\"ceiling\",\"workers\":%d,\"rate\":%.1f}\n", workers,
              static_cast<double>(cycles.load()) / seconds);
  return 0;
}
