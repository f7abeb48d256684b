// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/hash_slot.hpp"

#include <array>
#include <memory>

namespace verrou::detail::redis {

namespace {

// CRC16/XMODEM (polynomial 0x1021), a byte at a time through a table.
constexpr std::array<std::uint16_t, 256> kCrcTable = [] {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    unsigned crc = byte << 8U;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000U) != 0 ? ((crc << 1U) ^ 0x1021U) & 0xFFFFU : (crc << 1U) & 0xFFFFU;
    }
    table[byte] = static_cast<std::uint16_t>(crc);
  }
  return table;
}();

std::uint16_t crc16(std::string_view data) {
  unsigned crc = 0;
  for (char c : data) {
    const unsigned index = ((crc >> 8U) ^ static_cast<unsigned char>(c)) & 0xFFU;
    crc = ((crc << 8U) ^ kCrcTable[index]) & 0xFFFFU;
  }
  return static_cast<std::uint16_t>(crc);
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
