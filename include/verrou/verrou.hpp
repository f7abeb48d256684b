// SPDX-License-Identifier: Apache-2.0
//
// verrou.hpp: the whole core API of verrou-cpp in one include.
//
//   #include <verrou/verrou.hpp>
//   using namespace std::chrono_literals;
//
//   verrou::Verrou locks({.default_store = "memory",
//                         .stores = {{"memory", verrou::memory_store()}}});
//   auto lock = locks.create_lock("invoice:42", 10s);
//   if (lock.acquire({.retry = {.timeout = 2s}})) {
//     charge();
//     lock.release();
//   }
//
// Drivers other than memory have their own headers under `verrou/drivers/`.
#pragma once

#include "verrou/drivers/memory.hpp"
#include "verrou/duration.hpp"
#include "verrou/errors.hpp"
#include "verrou/keep_alive.hpp"
#include "verrou/lock.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/logger.hpp"
#include "verrou/manager.hpp"
#include "verrou/open_store.hpp"
#include "verrou/semaphore.hpp"
#include "verrou/serialized_lock.hpp"
#include "verrou/store.hpp"
