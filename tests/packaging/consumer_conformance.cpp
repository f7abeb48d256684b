// SPDX-License-Identifier: Apache-2.0
// How a user runs the installed conformance suite against a store of their own. The store here
// is defined in this program (it passes every call on to a MemoryStore), so the library finds
// its capabilities (waiting, fencing tokens, semaphores) through type information that crosses
// the boundary of a shared libverrou.
#include <verrou/drivers/memory.hpp>
#include <verrou/testing/conformance.hpp>

#include <memory>

namespace {

class UserStore final : public verrou::LockStore,
                        public verrou::WaitableLockStore,
                        public verrou::FencingLockStore,
                        public verrou::SemaphoreStore {
 public:
  bool save(const std::string& key, const std::string& owner,
            std::optional<verrou::Duration> ttl) override {
    return inner_.save(key, owner, ttl);
  }
  void remove(const std::string& key, const std::string& owner) override {
    inner_.remove(key, owner);
  }
  void force_remove(const std::string& key) override { inner_.force_remove(key); }
  bool exists(const std::string& key) override { return inner_.exists(key); }
  void extend(const std::string& key, const std::string& owner,
              verrou::Duration duration) override {
    inner_.extend(key, owner, duration);
  }
  std::optional<verrou::Acquired> save_waiting(
      const std::string& key, const std::string& owner, std::optional<verrou::Duration> ttl,
      std::chrono::steady_clock::time_point until,
      std::chrono::steady_clock::time_point waiting_since) override {
    return inner_.save_waiting(key, owner, ttl, until, waiting_since);
  }
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<verrou::Duration> ttl) override {
    return inner_.save_fenced(key, owner, ttl);
  }
  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<verrou::Duration> ttl) override {
    return inner_.save_permit(key, holder, limit, ttl);
  }
  void remove_permit(const std::string& key, const std::string& holder) override {
    inner_.remove_permit(key, holder);
  }
  void extend_permit(const std::string& key, const std::string& holder,
                     verrou::Duration duration) override {
    inner_.extend_permit(key, holder, duration);
  }
  std::uint32_t count_permits(const std::string& key) override {
    return inner_.count_permits(key);
  }

 private:
  verrou::MemoryStore inner_;
};

}  // namespace

using verrou::conformance::StoreConformance;

INSTANTIATE_TEST_SUITE_P(
    UserStore, StoreConformance,
    ::testing::Values(verrou::conformance::StoreHarness{
        .name = "user_store",
        .make_store = [] { return std::make_shared<UserStore>(); },
        .short_ttl = std::chrono::milliseconds(150),
        .contention_cycles = 200,
        .require_fencing = true,
        .require_semaphores = true,
        .stores_share_data = false,
    }),
    verrou::conformance::harness_name);
