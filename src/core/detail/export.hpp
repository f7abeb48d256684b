// SPDX-License-Identifier: Apache-2.0
// VERROU_INTERNAL_EXPORT: a private declaration that a shared libverrou still exports, because
// the verrou command (cli/), which links the shared library, calls it. No installed header
// declares it: it is not API, and may change or go in any release. The project's tests,
// benchmarks and fuzzers need no mark: they link verrou_internal (src/core/CMakeLists.txt),
// a static copy of the library. Keep the list short; `grep -r VERROU_INTERNAL_EXPORT src`
// shows it whole.
#pragma once

#include "verrou/export.hpp"

#define VERROU_INTERNAL_EXPORT VERROU_EXPORT
