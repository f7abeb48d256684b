// SPDX-License-Identifier: Apache-2.0
// Lock metrics served to Prometheus: an observer counts what the locks do, and prometheus-cpp's
// exposer serves the counters at http://<address>/metrics.
//
//   verrou_example_metrics [address] [store-url] [seconds]
//   verrou_example_metrics 127.0.0.1:9464 redis://127.0.0.1:6379 60
//   curl -s http://127.0.0.1:9464/metrics | grep ^verrou_
//
// Four workers take one key in turn, 25 times each, then one caller takes it while another finds
// it held: 101 acquisitions acquired and released, 1 not acquired. The program then serves the
// metrics for `seconds` (default 300) and exits.
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <verrou/observers/prometheus.hpp>
#include <verrou/verrou.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:9464";
  const std::string url = argc > 2 ? argv[2] : "memory:";
  const int seconds = argc > 3 ? std::stoi(argv[3]) : 300;

  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::Exposer exposer(address);
  exposer.RegisterCollectable(registry);

  verrou::Verrou locks({
      .default_store = "main",
      .stores = {{"main", verrou::url_store(url)}},
      .observer = verrou::prometheus_observer(registry),
  });

  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      for (int round = 0; round < 25; ++round) {
        auto lock = locks.create_lock("metrics:demo", 10s);
        if (lock.acquire({.retry = {.delay = 5ms, .timeout = 30s}})) lock.release();
      }
    });
  }
  for (auto& w : workers) w.join();
  auto holder = locks.create_lock("metrics:demo", 10s);
  auto other = locks.create_lock("metrics:demo", 10s);
  if (holder.acquire_immediately()) {
    (void)other.acquire_immediately();  // held: not acquired
    holder.release();
  }

  std::cout << "serving http://" << address << "/metrics for " << seconds << " s" << std::endl;
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return 0;
}
