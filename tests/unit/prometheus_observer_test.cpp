// SPDX-License-Identifier: Apache-2.0
// The Prometheus adapter, end to end: lock work counted by a PrometheusObserver, served by
// prometheus-cpp's exposer on a private loopback port, scraped over HTTP with libcurl, and the
// counters read back from the text format. Also runs the example program and scrapes it.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <prometheus/exposer.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "verrou/observers/prometheus.hpp"
#include "verrou/verrou.hpp"

namespace {

using namespace std::chrono_literals;

// Ports 22000-22999 are this suite's own.
constexpr int kFirstPort = 22100;

std::optional<std::string> http_get(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return std::nullopt;
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
        static_cast<std::string*>(out)->append(data, size * count);
        return size * count;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK || status != 200) return std::nullopt;
  return body;
}

// The value of the sample `name{...}` whose labels include every one of `labels` (`k="v"`);
// nullopt when there is none. Several matches: their sum.
std::optional<double> sample(const std::string& text, const std::string& name,
                             const std::vector<std::string>& labels) {
  std::istringstream lines(text);
  std::string line;
  std::optional<double> total;
  while (std::getline(lines, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    const auto close = line.find('}');
    const std::string label_text = line.substr(name.size(), close - name.size() + 1);
    bool all = true;
    for (const auto& l : labels) all = all && label_text.find(l) != std::string::npos;
    if (!all) continue;
    total = total.value_or(0) + std::stod(line.substr(close + 2));
  }
  return total;
}

std::unique_ptr<prometheus::Exposer> expose(const std::shared_ptr<prometheus::Registry>& registry,
                                            int& port) {
  for (port = kFirstPort; port < kFirstPort + 100; ++port) {
    try {
      auto exposer = std::make_unique<prometheus::Exposer>("127.0.0.1:" + std::to_string(port));
      exposer->RegisterCollectable(registry);
      return exposer;
    } catch (const std::exception&) {  // taken: the next one
    }
  }
  return nullptr;
}

// A memory store that can be made to fail as an unreachable server does.
class BrokenStore final : public verrou::LockStore {
 public:
  bool broken = false;
  bool save(const std::string& k, const std::string& o, std::optional<verrou::Duration> t) override {
    if (broken) throw verrou::LockStorageError("connection refused");
    return inner_.save(k, o, t);
  }
  void remove(const std::string& k, const std::string& o) override { inner_.remove(k, o); }
  void force_remove(const std::string& k) override { inner_.force_remove(k); }
  bool exists(const std::string& k) override { return inner_.exists(k); }
  void extend(const std::string& k, const std::string& o, verrou::Duration d) override {
    inner_.extend(k, o, d);
  }

 private:
  verrou::MemoryStore inner_;
};

TEST(PrometheusObserver, ScrapedCountersMatchTheLockWorkDone) {
  auto registry = std::make_shared<prometheus::Registry>();
  int port = 0;
  auto exposer = expose(registry, port);
  ASSERT_NE(exposer, nullptr) << "no free port in 22100-22199";
  auto broken = std::make_shared<BrokenStore>();
  verrou::Verrou locks({
      .default_store = "mem",
      .stores = {{"mem", verrou::memory_store()},
                 {"flaky", {.driver = "test", .create = [broken] { return broken; }}}},
      .observer = verrou::prometheus_observer(registry),
  });

  for (int i = 0; i < 3; ++i) {
    auto lock = locks.create_lock("prom:a", 10s);
    ASSERT_TRUE(lock.acquire());
    lock.extend();
    lock.release();
  }
  auto holder = locks.create_lock("prom:b", 10s);
  ASSERT_TRUE(holder.acquire());
  EXPECT_FALSE(locks.create_lock("prom:b", 10s).acquire({.retry = {.attempts = 2, .delay = 1ms}}));
  EXPECT_THROW(locks.create_lock("prom:b").release(), verrou::LockNotOwnedError);
  {
    auto lost = locks.create_lock("prom:lost", 300ms);
    ASSERT_TRUE(lost.acquire());
    auto keep = lost.keep_alive();
    locks.create_lock("prom:lost").force_release();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!keep.lost() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_TRUE(keep.lost());
  }
  broken->broken = true;
  EXPECT_THROW(locks.use("flaky").create_lock("prom:c").acquire(), verrou::LockStorageError);
  auto sem = locks.create_semaphore("prom:s", 2, 10s);
  ASSERT_TRUE(sem.acquire());
  sem.release();

  const auto text = http_get("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  ASSERT_TRUE(text.has_value()) << "scrape failed";
  const std::string mem = "store=\"mem\"";
  const std::string lock = "kind=\"lock\"";
  auto value = [&](const std::string& name, std::vector<std::string> labels) {
    return sample(*text, name, labels).value_or(-1);
  };
  // 3 of prom:a, the holder of prom:b, prom:lost.
  EXPECT_EQ(value("verrou_acquisitions_total", {mem, lock, "result=\"acquired\""}), 5);
  EXPECT_EQ(value("verrou_acquisitions_total", {mem, lock, "result=\"not_acquired\""}), 1);
  EXPECT_EQ(value("verrou_acquisitions_total", {"store=\"flaky\"", "result=\"error\""}), 1);
  EXPECT_EQ(value("verrou_acquisitions_total", {mem, "kind=\"semaphore\"", "result=\"acquired\""}), 1);
  EXPECT_EQ(value("verrou_acquire_attempts_total", {mem, lock}), 7);  // 5 + the 2 refused
  EXPECT_EQ(value("verrou_acquire_contended_total", {mem, lock}), 1);
  EXPECT_EQ(value("verrou_acquire_wait_seconds_count", {mem, lock, "result=\"acquired\""}), 5);
  EXPECT_EQ(value("verrou_releases_total", {mem, lock, "result=\"released\""}), 3);
  EXPECT_EQ(value("verrou_releases_total", {mem, lock, "result=\"not_owned\""}), 1);
  EXPECT_EQ(value("verrou_releases_total", {mem, lock, "result=\"force_released\""}), 1);
  EXPECT_EQ(value("verrou_releases_total", {mem, "kind=\"semaphore\"", "result=\"released\""}), 1);
  EXPECT_EQ(value("verrou_extensions_total", {mem, lock, "result=\"extended\""}), 3);
  EXPECT_EQ(value("verrou_extensions_total", {mem, lock, "result=\"not_owned\""}), 1);
  EXPECT_EQ(value("verrou_lost_total", {mem, lock}), 1);
  EXPECT_EQ(value("verrou_store_errors_total", {"store=\"flaky\"", "operation=\"acquire\""}), 1);
  holder.release();
}

#ifdef VERROU_EXAMPLE_METRICS
TEST(PrometheusObserver, TheExampleServesItsCountersAtMetrics) {
  int port = kFirstPort + 200 + static_cast<int>(::getpid() % 100);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execl(VERROU_EXAMPLE_METRICS, VERROU_EXAMPLE_METRICS, address.c_str(), "memory:", "60",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // The counters are final once the acquisitions not acquired show up.
  std::optional<std::string> text;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    text = http_get("http://" + address + "/metrics");
    if (text && sample(*text, "verrou_acquisitions_total", {"result=\"not_acquired\""})) break;
    text.reset();
    std::this_thread::sleep_for(100ms);
  }
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(text.has_value()) << "the example never served its final counters at " << address;
  const std::vector<std::string> main_lock = {"store=\"main\"", "kind=\"lock\""};
  auto with = [&](std::string extra) {
    auto labels = main_lock;
    labels.push_back(std::move(extra));
    return labels;
  };
  EXPECT_EQ(sample(*text, "verrou_acquisitions_total", with("result=\"acquired\"")), 101);
  EXPECT_EQ(sample(*text, "verrou_acquisitions_total", with("result=\"not_acquired\"")), 1);
  EXPECT_EQ(sample(*text, "verrou_releases_total", with("result=\"released\"")), 101);
  EXPECT_GE(sample(*text, "verrou_acquire_attempts_total", main_lock).value_or(0), 102);
}
#endif

}  // namespace
