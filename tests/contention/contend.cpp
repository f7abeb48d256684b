// SPDX-License-Identifier: Apache-2.0
//
// verrou_contend: one process of a multi-process contention test. Several of these run at
// once against one store URL and one key; each loops acquire → check → increment → release.
//
//   verrou_contend --store URL --key K --cycles N --dir D [--ttl 30s] [--hold-us 200]
//
// While holding the lock a process creates D/holder with O_EXCL (an overlap with another
// holder makes that fail) and increments the number in D/counter with a read, a pause and a
// write (an overlap loses an increment). The driver script checks the final count.
// Exit codes: 0 all cycles done, 3 overlap seen, 4 could not acquire in time, 2 usage/errors.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "verrou/verrou.hpp"

namespace {

struct Options {
  std::string store;
  std::string key;
  std::string dir;
  long cycles = 100;
  verrou::Duration ttl{30000};
  long hold_us = 200;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const std::string value = argv[i + 1];
    if (name == "--store") o.store = value;
    else if (name == "--key") o.key = value;
    else if (name == "--dir") o.dir = value;
    else if (name == "--cycles") o.cycles = std::stol(value);
    else if (name == "--ttl") o.ttl = verrou::parse_duration(value);
    else if (name == "--hold-us") o.hold_us = std::stol(value);
    else return false;
  }
  return !o.store.empty() && !o.key.empty() && !o.dir.empty() && o.cycles > 0;
}

long read_counter(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  long value = 0;
  if (std::fscanf(f, "%ld", &value) != 1) value = 0;
  std::fclose(f);
  return value;
}

void write_counter(const std::string& path, long value) {
  const std::string tmp = path + "." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  std::fprintf(f, "%ld\n", value);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!parse(argc, argv, o)) {
      std::cerr << "usage: verrou_contend --store URL --key K --cycles N --dir D [--ttl D] "
                   "[--hold-us N]\n";
      return 2;
    }
    verrou::LockFactory locks(verrou::open_store(o.store));
    const std::string marker = o.dir + "/holder";
    const std::string counter = o.dir + "/counter";
    for (long i = 0; i < o.cycles; ++i) {
      auto lock = locks.create_lock(o.key, o.ttl);
      if (!lock.acquire({.retry = {.delay = verrou::Duration(5), .timeout = verrou::Duration(120000)}})) {
        std::cerr << "contend[" << ::getpid() << "]: could not acquire within 120 s\n";
        return 4;
      }
      const int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0) {
        std::cerr << "contend[" << ::getpid() << "]: OVERLAP: another process holds the lock too ("
                  << std::strerror(errno) << ")\n";
        return 3;
      }
      ::close(fd);
      const long seen = read_counter(counter);
      std::this_thread::sleep_for(std::chrono::microseconds(o.hold_us));
      write_counter(counter, seen + 1);
      ::unlink(marker.c_str());
      lock.release();
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "contend[" << ::getpid() << "]: " << e.what() << "\n";
    return 2;
  }
}
