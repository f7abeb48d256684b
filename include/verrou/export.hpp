// SPDX-License-Identifier: Apache-2.0
//
// export.hpp: which declarations a shared libverrou makes visible to its users.
//
// The library is compiled with hidden symbols (`-fvisibility=hidden`): only what is marked
// `VERROU_EXPORT` is part of its dynamic interface. Every class or struct of include/verrou/
// that has member functions (virtual ones included, so that its type information is shared
// for `dynamic_cast` and `catch` across the library boundary), and every free function
// declared there and defined in the library, carries it:
//
//   class VERROU_EXPORT LockFactory { ... };
//   VERROU_EXPORT Duration parse_duration(std::string_view text);
//
// Plain aggregates without member functions, templates and functions defined inline in the
// headers need no mark. A static library defines `VERROU_STATIC_DEFINE` for itself and its
// users (CMake and pkg-config pass it on), which leaves the mark empty, so a static libverrou
// linked into a user's shared library does not export verrou's symbols from it.
#pragma once

#if defined(VERROU_STATIC_DEFINE)
#define VERROU_EXPORT
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(VERROU_BUILDING_LIBRARY)
#define VERROU_EXPORT __declspec(dllexport)
#else
#define VERROU_EXPORT __declspec(dllimport)
#endif
#else
#define VERROU_EXPORT __attribute__((visibility("default")))
#endif
