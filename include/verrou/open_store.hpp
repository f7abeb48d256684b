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

/// `url` with every secret replaced by `***`, for messages and logs: the password of a URL's
/// userinfo (`redis://user:***@host`, also of a URL inside another, such as a SOCI
/// connection string in URI form), the value of any parameter whose name says secret
/// (`password`, `pwd`, `pass…`, `…secret…`, `…token…`, `auth…`) as a URL query parameter
/// (`?password=***`) or in a key=value connection string (libpq conninfo, SOCI, ODBC:
/// `password=***`, `password = '***'`, `PWD={***}`), percent-encoded or not. Also takes a
/// bare connection string. Where malformed text leaves a secret's end unclear, more is
/// hidden. Cut to 8 KiB. Never throws. Thread safety: pure.
std::string redact_url(std::string_view url);

}  // namespace verrou
