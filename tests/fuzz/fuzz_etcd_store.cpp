// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the etcd store's whole reply path over HTTP — status codes, error objects,
// authentication answers, replies of any shape — against a hostile member. A fake member on a
// loopback port answers the store's requests one by one from the input: chunks separated by
// "\xff\xff", each chunk's first byte choosing the HTTP status and the rest being the body;
// once the chunks run out, connections are refused. The first byte of the input chooses
// whether the store authenticates (bit 0) and its expiry mode (bit 1: clock, else lease). The store runs one of each operation, locks
// and semaphores; every call must return or throw a verrou::Error: no crash, no hang, no other
// exception.
#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fake_http_server.hpp"
#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"

namespace {

template <class F>
void attempt(F&& f) {
  try {
    f();
  } catch (const verrou::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 16384) return 0;
  const bool authenticate = data[0] % 2 == 1;
  verrou_fuzz::FakeHttpServer server(verrou_fuzz::split_chunks(
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)));
  verrou::EtcdStore store(verrou::EtcdStoreOptions{
      .endpoints = {{"127.0.0.1", server.port}},
      .username = authenticate ? "fuzz" : "",
      .password = authenticate ? "fuzz-password" : "",
      .connect_timeout = verrou::Duration(200),
      .request_timeout = verrou::Duration(500),
      .operation_timeout = verrou::Duration(60),
      .expiry = (data[0] & 2U) != 0 ? verrou::EtcdExpiry::clock : verrou::EtcdExpiry::lease,
  });
  const std::string key = "fuzz";
  const std::string owner = "0123456789abcdef0123456789abcdef";
  attempt([&] { (void)store.save_fenced(key, owner, verrou::Duration(30000)); });
  attempt([&] { (void)store.exists(key); });
  attempt([&] { store.extend(key, owner, verrou::Duration(1000)); });
  attempt([&] { store.remove(key, owner); });
  attempt([&] { store.force_remove(key); });
  attempt([&] { (void)store.save(key, owner, std::nullopt); });
  attempt([&] { (void)store.save_permit(key, owner, 2, verrou::Duration(30000)); });
  attempt([&] { (void)store.count_permits(key); });
  attempt([&] { store.extend_permit(key, owner, verrou::Duration(1000)); });
  attempt([&] { store.remove_permit(key, owner); });
  return 0;
}
