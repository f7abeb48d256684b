// SPDX-License-Identifier: Apache-2.0
#include "verrou/version.hpp"

namespace verrou {

std::string_view library_version() noexcept { return VERROU_VERSION_STRING; }

}  // namespace verrou
