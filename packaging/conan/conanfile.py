# SPDX-License-Identifier: Apache-2.0
"""Conan 2 recipe for verrou-cpp, building the checkout it lives in.

    conan create packaging/conan -o "verrou/*:with_redis=True" -o "verrou/*:shared=True"

Untested: Conan is not available where the project is built (see packaging/README.md).
"""
import os
import re

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load
from conan.tools.gnu import PkgConfigDeps

# Each driver option: the CMake switch it sets and the Conan packages it needs.
DRIVERS = {
    "sqlite": ("VERROU_DRIVER_SQLITE", ["sqlite3/[>=3.24 <4]"]),
    "postgres": ("VERROU_DRIVER_POSTGRES", ["libpq/[>=13 <17]"]),
    "mysql": ("VERROU_DRIVER_MYSQL", ["mariadb-connector-c/[>=3.3 <4]"]),
    "redis": ("VERROU_DRIVER_REDIS", ["hiredis/[>=0.14 <2]", "openssl/[>=3 <4]"]),
    "dynamodb": ("VERROU_DRIVER_DYNAMODB", ["libcurl/[>=7.75 <9]", "openssl/[>=3 <4]"]),
    "etcd": ("VERROU_DRIVER_ETCD", ["libcurl/[>=7.75 <9]"]),
    "soci": ("VERROU_DRIVER_SOCI", ["soci/[>=4.0 <5]"]),
}


class VerrouConan(ConanFile):
    name = "verrou"
    description = ("Distributed and local locks for C++ over many stores: memory, SQLite, "
                   "PostgreSQL, MySQL/MariaDB, SOCI, Redis, DynamoDB, etcd")
    license = "Apache-2.0"
    topics = ("lock", "distributed-lock", "mutex", "redis", "postgresql", "dynamodb", "etcd")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "cli": [True, False],
        "testing": [True, False],
        **{f"with_{name}": [True, False] for name in DRIVERS},
    }
    default_options = {
        "shared": False,
        "fPIC": True,
        "cli": False,
        "testing": False,
        **{f"with_{name}": name == "sqlite" for name in DRIVERS},
    }

    def _source_root(self):
        return os.path.join(self.recipe_folder, "..", "..")

    def set_version(self):
        # The one version of the project: project(verrou VERSION x.y.z) in CMakeLists.txt.
        text = load(self, os.path.join(self._source_root(), "CMakeLists.txt"))
        self.version = re.search(r"project\(verrou VERSION ([0-9.]+)", text).group(1)

    def export_sources(self):
        root = self._source_root()
        for pattern in ("CMakeLists.txt", "CMakePresets.json", "cmake/*", "include/*", "src/*",
                        "cli/*", "tests/conformance/*"):
            copy(self, pattern, root, self.export_sources_folder)

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")
        if self.options.cli:
            self.options.with_sqlite = True  # the command's default store

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        self.requires("nlohmann_json/[>=3.10 <4]")
        seen = set()
        for name, (_, packages) in DRIVERS.items():
            if self.options.get_safe(f"with_{name}"):
                for package in packages:
                    if package not in seen:
                        seen.add(package)
                        self.requires(package)
        if self.options.cli:
            self.requires("cli11/[>=2.0 <3]")
        if self.options.testing:
            self.requires("gtest/[>=1.12 <2]", transitive_headers=True)

    def validate(self):
        from conan.tools.build import check_min_cppstd
        check_min_cppstd(self, 20)

    def generate(self):
        toolchain = CMakeToolchain(self)
        toolchain.cache_variables["VERROU_BUILD_TESTS"] = False
        toolchain.cache_variables["VERROU_BUILD_BENCH"] = False
        toolchain.cache_variables["VERROU_BUILD_EXAMPLES"] = False
        toolchain.cache_variables["VERROU_BUILD_CLI"] = bool(self.options.cli)
        toolchain.cache_variables["VERROU_BUILD_TESTING_LIBRARY"] = bool(self.options.testing)
        for name, (switch, _) in DRIVERS.items():
            toolchain.cache_variables[switch] = "ON" if self.options.get_safe(f"with_{name}") else "OFF"
        toolchain.generate()
        CMakeDeps(self).generate()
        # hiredis and MariaDB Connector/C are found with pkg-config by the project.
        PkgConfigDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        CMake(self).install()

    def package_info(self):
        # Consumers use the project's own CMake package and pkg-config files.
        self.cpp_info.set_property("cmake_find_mode", "none")
        self.cpp_info.builddirs.append(os.path.join("lib", "cmake", "verrou"))
        self.cpp_info.libs = ["verrou"]
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread", "dl"]
        if self.options.cli:
            self.buildenv_info.prepend_path("PATH", os.path.join(self.package_folder, "bin"))
