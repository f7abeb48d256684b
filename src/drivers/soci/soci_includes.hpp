// SPDX-License-Identifier: Apache-2.0
// SOCI's headers, usable without Boost.
//
// Debian's libsoci-dev was built with Boost, so its soci-config.h defines SOCI_HAVE_BOOST,
// yet the package does not depend on libboost-dev. The macro only adds member templates for
// Boost.Fusion sequences to header-only classes (no data members, nothing in the library's
// ABI), so undefining it right after soci-config.h lets SOCI build without Boost.
#pragma once

#include <soci/soci-config.h>
#undef SOCI_HAVE_BOOST
#undef SOCI_HAVE_BOOST_DATE_TIME

#include <soci/soci.h>
