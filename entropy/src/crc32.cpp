// CRC-32 (IEEE, reflected): zlib's where the build has zlib (it is faster), else slicing-by-8:
// eight 256-entry tables let the loop fold 8 input bytes per iteration with independent lookups
// instead of one dependent lookup per byte.
#include "lucid/entropy/crc32.h"

#ifdef LUCID_HAVE_ZLIB
#include <zlib.h>

namespace lucid::entropy {
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  if (data == nullptr) return crc;
  return static_cast<uint32_t>(crc32_z(crc, data, size));
}
}  // namespace lucid::entropy

#else
#include <array>

namespace lucid::entropy {
namespace {

constexpr uint32_t kPolynomial = 0xEDB88320u;  // reflected 0x04C11DB7

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// tables[0] is the classic byte table; tables[k][b] is the CRC of byte b followed by k zero
// bytes, i.e. tables[k][b] = (tables[k-1][b] >> 8) ^ tables[0][tables[k-1][b] & 0xFF].
constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][b] = c;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = make_tables();

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  uint32_t c = ~crc;
  if (data == nullptr) return crc;
  while (size >= 8) {
    // Little-endian assembly by shifts: portable, and compilers turn it into one load.
    const uint32_t lo = c ^ (uint32_t{data[0]} | uint32_t{data[1]} << 8 |
                             uint32_t{data[2]} << 16 | uint32_t{data[3]} << 24);
    c = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
        kTables[4][lo >> 24] ^ kTables[3][data[4]] ^ kTables[2][data[5]] ^
        kTables[1][data[6]] ^ kTables[0][data[7]];
    data += 8;
    size -= 8;
  }
  while (size-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *data++) & 0xFF];
  return ~c;
}

}  // namespace lucid::entropy
#endif  // LUCID_HAVE_ZLIB
