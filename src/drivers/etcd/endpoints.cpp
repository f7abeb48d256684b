// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/endpoints.hpp"

#include <utility>

#include "verrou/errors.hpp"

namespace verrou::detail::etcd {

Endpoints::Endpoints(std::vector<std::string> base_urls) : urls_(std::move(base_urls)) {
  if (urls_.empty()) throw InvalidArgumentError("etcd: no endpoint given");
}

std::string Endpoints::name(std::size_t index) const {
  const std::string& url = urls_[index];
  const auto scheme = url.find("://");
  return scheme == std::string::npos ? url : url.substr(scheme + 3);
}

std::string Endpoints::describe() const {
  std::string out;
  for (std::size_t i = 0; i < urls_.size(); ++i) {
    if (i > 0) out += ',';
    out += name(i);
  }
  return out;
}

void Endpoints::failed(std::size_t index) {
  std::size_t expected = index;
  preferred_.compare_exchange_strong(expected, (index + 1) % urls_.size(),
                                     std::memory_order_relaxed);
}

void Endpoints::answered(std::size_t index) {
  preferred_.store(index, std::memory_order_relaxed);
}

}  // namespace verrou::detail::etcd
