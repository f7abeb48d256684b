// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/hash_slot.hpp"

#include <array>
#include <memory>

namespace verrou::detail::redis {

namespace {

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (char c : data) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint16_t>(static_cast<unsigned char>(c)) << 8U));
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000U) != 0 ? static_cast<std::uint16_t>((crc << 1U) ^ 0x1021U)
                                 : static_cast<std::uint16_t>(crc << 1U);
    }
  }
  return crc;
}

}  // namespace

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) % kSlotCount);
}

const std::string& slot_tag(std::uint16_t slot) {
  // 16384 slots are all reached by the integers below 110 000 (the largest needed is 109 757):
  // about a millisecond of CRC16, once per process.
  static const auto tags = [] {
    auto table = std::make_unique<std::array<std::string, kSlotCount>>();
    std::size_t found = 0;
    for (std::uint32_t n = 0; found < kSlotCount; ++n) {
      std::string text = std::to_string(n);
      auto& tag = (*table)[crc16(text) % kSlotCount];
      if (tag.empty()) {
        tag = std::move(text);
        ++found;
      }
    }
    return table;
  }();
  return (*tags)[slot % kSlotCount];
}

}  // namespace verrou::detail::redis
