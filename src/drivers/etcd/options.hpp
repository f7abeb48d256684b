// SPDX-License-Identifier: Apache-2.0
// The etcd store's options: read from a URL, checked, and turned into the client's.
#pragma once

#include "detail/url.hpp"
#include "drivers/etcd/client.hpp"
#include "verrou/drivers/etcd.hpp"

namespace verrou::detail::etcd {

// Options from a parsed etcd:// or etcds:// URL; throws InvalidArgumentError.
EtcdStoreOptions options_from_url(const Url& url);

// Throws InvalidArgumentError saying what is wrong with `options`.
void validate(const EtcdStoreOptions& options);

// The client's options (base URLs per member, TLS, credentials, timeouts).
ClientOptions client_options(const EtcdStoreOptions& options);

}  // namespace verrou::detail::etcd
