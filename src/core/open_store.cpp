// SPDX-License-Identifier: Apache-2.0
#include "verrou/open_store.hpp"

#include <algorithm>
#include <array>

#include "detail/driver_registry.hpp"
#include "detail/url.hpp"
#include "verrou/drivers/memory.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace detail {

void DriverRegistry::add(std::string scheme, StoreOpener opener) {
  openers_.insert_or_assign(std::move(scheme), opener);
}

StoreOpener DriverRegistry::find(std::string_view scheme) const {
  const auto it = openers_.find(scheme);
  return it == openers_.end() ? nullptr : it->second;
}

}  // namespace detail

namespace {

struct KnownScheme {
  std::string_view scheme;
  std::string_view driver;
  std::string_view package;
};

// Every scheme some build of the library understands, to tell "not built here" from "unknown".
constexpr std::array kKnownSchemes{
    KnownScheme{"sqlite", "sqlite", "libsqlite3-dev"},
    KnownScheme{"postgres", "postgres", "libpq-dev"},
    KnownScheme{"postgresql", "postgres", "libpq-dev"},
    KnownScheme{"mysql", "mysql", "libmariadb-dev"},
    KnownScheme{"mariadb", "mysql", "libmariadb-dev"},
    KnownScheme{"redis", "redis", "libhiredis-dev and libssl-dev"},
    KnownScheme{"rediss", "redis", "libhiredis-dev and libssl-dev"},
    KnownScheme{"redis+unix", "redis", "libhiredis-dev and libssl-dev"},
    KnownScheme{"redis+cluster", "redis", "libhiredis-dev and libssl-dev"},
    KnownScheme{"dynamodb", "dynamodb", "libcurl4-openssl-dev"},
    KnownScheme{"soci", "soci", "libsoci-dev"},
    KnownScheme{"etcd", "etcd", "libcurl4-openssl-dev"},
    KnownScheme{"etcds", "etcd", "libcurl4-openssl-dev"},
};

std::shared_ptr<LockStore> open_memory(const detail::Url& url) {
  if (!url.opaque.empty() || !url.hosts.empty() || !url.path.empty() || url.username) {
    throw InvalidArgumentError("invalid memory store URL: write it as \"memory:\" (it takes no "
                               "host, path or options)");
  }
  url.check_params({});
  return std::make_shared<MemoryStore>();
}

const detail::DriverRegistry& registry() {
  static const detail::DriverRegistry instance = [] {
    detail::DriverRegistry r;
    r.add("memory", &open_memory);
    detail::register_builtin_drivers(r);
    return r;
  }();
  return instance;
}

}  // namespace

std::shared_ptr<LockStore> open_store(std::string_view url) {
  const detail::Url parsed = detail::parse_url(url);
  if (auto opener = registry().find(parsed.scheme)) return opener(parsed);
  for (const auto& known : kKnownSchemes) {
    if (known.scheme == parsed.scheme) {
      throw InvalidArgumentError(
          "the " + std::string(known.driver) + " driver (scheme \"" + parsed.scheme +
          ":\") was not built into this verrou library; install " + std::string(known.package) +
          " and rebuild with -DVERROU_DRIVER_" +
          [&] {
            std::string upper(known.driver);
            for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
            return upper;
          }() +
          "=ON");
    }
  }
  std::string schemes;
  for (const auto& s : supported_schemes()) {
    if (!schemes.empty()) schemes += ", ";
    schemes += s + ":";
  }
  throw InvalidArgumentError("unknown store URL scheme \"" + parsed.scheme +
                             ":\"; this build supports " + schemes);
}

StoreFactory url_store(std::string url) {
  std::string driver = "url";
  try {
    driver = detail::parse_url(url).scheme;
  } catch (const InvalidArgumentError&) {
    // reported when the store is created
  }
  return StoreFactory{.driver = std::move(driver),
                      .create = [url = std::move(url)] { return open_store(url); }};
}

std::vector<std::string> supported_schemes() {
  std::vector<std::string> out;
  for (const auto& [scheme, opener] : registry().schemes()) out.push_back(scheme);
  return out;
}

std::string redact_url(std::string_view url) { return detail::redact_url_text(url); }

}  // namespace verrou
