// SPDX-License-Identifier: Apache-2.0
// Redis Cluster hash slots: the slot of a key (CRC16 of the key or of its {hash tag}), and a
// short hash tag for every slot, which names keys that must live beside a given key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace verrou::detail::redis {

inline constexpr std::size_t kSlotCount = 16384;

/// The hash slot of `key`: CRC16/XMODEM of the key, or of the text between its first `{` and
/// the first `}` after it when that text is not empty, modulo 16384. Thread safety: pure.
std::uint16_t key_slot(std::string_view key);

/// The hash tag of `slot`: the smallest non-negative integer, written in decimal, whose own
/// hash slot is `slot` (at most six digits). Written in braces in a key name ("x:{1234}:y"),
/// it sends that key to `slot` whatever else the name holds, so data kept beside a lock (its
/// fencing counter) lands in the lock's slot even when the lock's key contains braces. Every
/// process computes the same table. Thread safety: safe (computed once, on first use).
const std::string& slot_tag(std::uint16_t slot);

}  // namespace verrou::detail::redis
