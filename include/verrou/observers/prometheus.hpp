// SPDX-License-Identifier: Apache-2.0
//
// observers/prometheus.hpp: the library's lock events as Prometheus metrics, through
// prometheus-cpp (Debian `prometheus-cpp-dev`). Header-only, so the library itself does not
// depend on prometheus-cpp; link `verrou::prometheus` (or prometheus-cpp::core yourself).
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   prometheus::Exposer exposer("127.0.0.1:9464");           // prometheus-cpp::pull
//   exposer.RegisterCollectable(registry);                    // serves /metrics
//   verrou::Verrou locks({.default_store = "redis",
//                         .stores = {{"redis", verrou::redis_store({...})}},
//                         .observer = verrou::prometheus_observer(registry)});
//
// Metrics (every one labelled `store` and `kind`, "lock" or "semaphore"; docs/metrics.md):
//   verrou_acquisitions_total{result="acquired|not_acquired|error"}   counter
//   verrou_acquire_attempts_total                                      counter (tries of the store)
//   verrou_acquire_contended_total                                     counter (acquisitions that waited)
//   verrou_acquire_wait_seconds{result}                                histogram
//   verrou_releases_total{result="released|not_owned|force_released"}  counter
//   verrou_extensions_total{result="extended|not_owned"}               counter
//   verrou_lost_total                                                  counter (leases a keep-alive lost)
//   verrou_store_errors_total{operation="acquire|release|..."}         counter
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "verrou/observer.hpp"

namespace verrou {

/// Options of `PrometheusObserver`.
struct PrometheusObserverOptions {
  /// Upper bounds of `verrou_acquire_wait_seconds`' buckets, increasing; empty: 100 µs to 30 s.
  std::vector<double> wait_buckets{};
};

/// An `Observer` counting the library's events in a prometheus-cpp registry.
/// Thread safety: all members may be called concurrently (prometheus-cpp's families and metrics
/// are thread-safe).
class PrometheusObserver final : public Observer {
 public:
  /// Registers the metric families in `registry` (which must outlive nothing: it is shared).
  /// Throws what prometheus-cpp throws for a registry already holding these names with other
  /// types.
  explicit PrometheusObserver(std::shared_ptr<prometheus::Registry> registry,
                              PrometheusObserverOptions options = {})
      : registry_(std::move(registry)),
        buckets_(options.wait_buckets.empty() ? default_buckets()
                                              : std::move(options.wait_buckets)),
        acquisitions_(counter("verrou_acquisitions_total",
                              "Lock and permit acquisitions, by result")),
        attempts_(counter("verrou_acquire_attempts_total",
                          "Tries of the store made by acquisitions")),
        contended_(counter("verrou_acquire_contended_total",
                           "Acquisitions that had to wait or retry")),
        wait_(prometheus::BuildHistogram()
                  .Name("verrou_acquire_wait_seconds")
                  .Help("Time from the start of an acquisition to its outcome")
                  .Register(*registry_)),
        releases_(counter("verrou_releases_total", "Releases that reached the store, by result")),
        extensions_(counter("verrou_extensions_total",
                            "Extensions that reached the store (keep-alives' included)")),
        lost_(counter("verrou_lost_total", "Leases a keep-alive lost")),
        errors_(counter("verrou_store_errors_total", "Store failures, by operation")) {}

  void on_acquire(const AcquireEvent& e) noexcept override {
    try {
      const std::string result(to_string(e.result));
      acquisitions_.Add(labels(e.store, e.kind, "result", result)).Increment();
      attempts_.Add(labels(e.store, e.kind)).Increment(static_cast<double>(e.attempts));
      if (e.contended) contended_.Add(labels(e.store, e.kind)).Increment();
      wait_.Add(labels(e.store, e.kind, "result", result), buckets_)
          .Observe(std::chrono::duration<double>(e.wait).count());
    } catch (...) {  // metrics never break locking
    }
  }

  void on_release(const ReleaseEvent& e) noexcept override {
    try {
      const char* result = !e.owned ? "not_owned" : e.forced ? "force_released" : "released";
      releases_.Add(labels(e.store, e.kind, "result", result)).Increment();
    } catch (...) {
    }
  }

  void on_extend(const ExtendEvent& e) noexcept override {
    try {
      extensions_.Add(labels(e.store, e.kind, "result", e.owned ? "extended" : "not_owned"))
          .Increment();
    } catch (...) {
    }
  }

  void on_lost(const LostEvent& e) noexcept override {
    try {
      lost_.Add(labels(e.store, e.kind)).Increment();
    } catch (...) {
    }
  }

  void on_store_error(const StoreErrorEvent& e) noexcept override {
    try {
      errors_.Add(labels(e.store, e.kind, "operation", std::string(to_string(e.operation))))
          .Increment();
    } catch (...) {
    }
  }

  /// The registry the metrics live in.
  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  static std::vector<double> default_buckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
            0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  }

  prometheus::Family<prometheus::Counter>& counter(const char* name, const char* help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  }

  static prometheus::Labels labels(std::string_view store, HoldKind kind) {
    return {{"store", std::string(store)}, {"kind", std::string(to_string(kind))}};
  }
  static prometheus::Labels labels(std::string_view store, HoldKind kind, const char* name,
                                   std::string value) {
    auto out = labels(store, kind);
    out.emplace(name, std::move(value));
    return out;
  }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram::BucketBoundaries buckets_;
  prometheus::Family<prometheus::Counter>& acquisitions_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Counter>& contended_;
  prometheus::Family<prometheus::Histogram>& wait_;
  prometheus::Family<prometheus::Counter>& releases_;
  prometheus::Family<prometheus::Counter>& extensions_;
  prometheus::Family<prometheus::Counter>& lost_;
  prometheus::Family<prometheus::Counter>& errors_;
};

/// Makes a `PrometheusObserver` over `registry`.
inline std::shared_ptr<PrometheusObserver> prometheus_observer(
    std::shared_ptr<prometheus::Registry> registry, PrometheusObserverOptions options = {}) {
  return std::make_shared<PrometheusObserver>(std::move(registry), std::move(options));
}

}  // namespace verrou
