// SPDX-License-Identifier: Apache-2.0
// A DatabaseStore over one SQL adapter, built from the adapter's options: what every SQL
// driver's `make_<name>_store` does.
#pragma once

#include <memory>
#include <utility>

#include "verrou/drivers/database.hpp"

namespace verrou::detail {

// The store over a new `Adapter(options)`, with the table name, auto_create_table and
// fencing_tokens taken from `options` (every SQL driver's options struct has the three).
template <class Adapter, class Options>
std::shared_ptr<DatabaseStore> store_over_adapter(Options options) {
  auto table = options.table_name;
  const bool create = options.auto_create_table;
  const bool fencing = options.fencing_tokens;
  return std::make_shared<DatabaseStore>(DatabaseStoreOptions{
      .adapter = std::make_shared<Adapter>(std::move(options)),
      .table_name = std::move(table),
      .auto_create_table = create,
      .fencing_tokens = fencing,
  });
}

}  // namespace verrou::detail
