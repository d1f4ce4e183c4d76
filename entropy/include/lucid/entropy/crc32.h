#pragma once
#include <cstddef>
#include <cstdint>

namespace lucid::entropy {
// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), as in zlib/PNG:
// crc32("123456789") == 0xCBF43926. Pass a previous result as `crc` to continue over more bytes.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);
}  // namespace lucid::entropy
