// SPDX-License-Identifier: Apache-2.0
// VERROU_INTERNAL_EXPORT: a private declaration that a shared libverrou still exports, because a
// program of this project outside the library calls it (the verrou command, a white-box test).
// No installed header declares it: it is not API, and may change or go in any release.
// Keep the list short; `grep -r VERROU_INTERNAL_EXPORT src` shows it whole.
#pragma once

#include "verrou/export.hpp"

#define VERROU_INTERNAL_EXPORT VERROU_EXPORT
