// SPDX-License-Identifier: Apache-2.0
//
// open_store.hpp: any store from a URL, for configuration files and command lines.
//
//   auto store = verrou::open_store("redis://:secret@cache:6379/0");
//   verrou::LockFactory locks(store);
//
// Schemes: `memory:`, `sqlite:///abs/path.db`, `sqlite::memory:`,
// `postgres://user:pass@host:port/db`, `mysql://user:pass@host:port/db`,
// `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), `redis+unix:///path.sock`,
// `redis+cluster://host:port[,host:port…]`, `dynamodb://?region=…&endpoint=…&table=…`,
// `etcd://[user:pass@]host:port[,host:port…][?prefix=…]`, `etcds://…` (TLS).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "verrou/store.hpp"

namespace verrou {

/// Opens the store a URL describes. Throws `InvalidArgumentError` for a malformed URL, an
/// unknown scheme, or a scheme whose driver was not built into this library (the message
/// says which driver and how to enable it), and whatever the driver throws when it cannot
/// connect (`LockStorageError`). Thread safety: may be called concurrently.
std::shared_ptr<LockStore> open_store(std::string_view url);

/// `open_store(url)` as a lazy `StoreFactory`, for `VerrouConfig::stores`.
StoreFactory url_store(std::string url);

/// The URL schemes `open_store` accepts in this build, sorted.
std::vector<std::string> supported_schemes();

/// `url` with any password replaced by `***`, for messages and logs. Never throws; text
/// that does not parse as a URL comes back with everything after `scheme://` hidden.
std::string redact_url(std::string_view url);

}  // namespace verrou
