#include "lucid/entropy/crc32.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "entropy_test_util.h"

namespace lucid::entropy {
namespace {

uint32_t crc_of(const std::string& s) {
  return crc32(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Bit-at-a-time reference, independent of the sliced tables.
uint32_t reference_crc32(const uint8_t* data, size_t size) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    c ^= data[i];
    for (int b = 0; b < 8; ++b) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return ~c;
}

TEST(Crc32, KnownVectors) {
  EXPECT_EQ(crc_of(""), 0x00000000u);
  EXPECT_EQ(crc_of("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc_of("a"), 0xE8B7BE43u);
  EXPECT_EQ(crc_of("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
}

TEST(Crc32, MatchesBitwiseReferenceAtEveryLengthAndAlignment) {
  test::SplitMix64 rng(7);
  std::vector<uint8_t> buf(300);
  for (auto& b : buf) b = static_cast<uint8_t>(rng.next());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= buf.size(); ++len) {
      ASSERT_EQ(crc32(buf.data() + start, len), reference_crc32(buf.data() + start, len))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Crc32, IncrementalEqualsOneShot) {
  const std::string s = "incremental CRC over several pieces of a longer message";
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t split = 0; split <= s.size(); ++split) {
    const uint32_t first = crc32(p, split);
    EXPECT_EQ(crc32(p + split, s.size() - split, first), crc_of(s)) << split;
  }
}

}  // namespace
}  // namespace lucid::entropy
