// Golden hashes: the exact bytes of the Gaussian tables, of a coded stream and of a container.
// A failure here means the bitstream format changed: old files would no longer decode. Only
// update these constants together with a format version bump (container.h kFormatVersion).
// Inputs use integer arithmetic only, so they are identical on every platform.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "entropy_test_util.h"
#include "lucid/entropy/cdf.h"
#include "lucid/entropy/container.h"
#include "lucid/entropy/crc32.h"
#include "lucid/entropy/rans.h"

namespace lucid::entropy {
namespace {

uint32_t crc_of(const std::vector<uint8_t>& b) { return crc32(b.data(), b.size()); }

template <typename T>
uint32_t crc_of_values(const T* values, size_t count, uint32_t crc = 0) {
  // Little-endian serialisation so the hash does not depend on the host byte order.
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, &values[i], sizeof(T));
    uint8_t le[sizeof(T)];
    for (size_t k = 0; k < sizeof(T); ++k) le[k] = static_cast<uint8_t>(bits >> (8 * k));
    crc = crc32(le, sizeof(T), crc);
  }
  return crc;
}

// A deterministic mix of in-range values, near escapes and int32 extremes.
void golden_symbols(const CdfSet& set, size_t count, std::vector<int32_t>* values,
                    std::vector<int32_t>* indexes) {
  test::SplitMix64 rng(2024);
  for (size_t i = 0; i < count; ++i) {
    const int t = static_cast<int>(rng.below(set.size()));
    const int64_t radius = -int64_t{set.offset(t)};
    int64_t v;
    const uint64_t kind = rng.below(100);
    if (kind < 90) {  // triangular-ish around 0 within the range
      const int64_t a = static_cast<int64_t>(rng.below(radius + 1));
      const int64_t b = static_cast<int64_t>(rng.below(radius + 1));
      v = (a - b) / 2;
    } else if (kind < 98) {
      v = static_cast<int64_t>(rng.below(2 * radius + 1)) - radius;
    } else if (kind < 99) {
      v = (rng.below(2) ? 1 : -1) * (radius + 1 + static_cast<int64_t>(rng.below(1000)));
    } else {
      v = rng.below(2) ? INT32_MIN : INT32_MAX;
    }
    values->push_back(static_cast<int32_t>(v));
    indexes->push_back(t);
  }
}

TEST(Golden, ScaleTableBits) {
  const std::vector<double> scales = make_scale_table();
  EXPECT_EQ(crc_of_values(scales.data(), scales.size()), 0x79181BF2u);
}

TEST(Golden, GaussianTables) {
  const CdfSet set = test::default_gaussian_set();
  uint32_t crc = 0;
  for (int i = 0; i < static_cast<int>(set.size()); ++i) {
    const int32_t offset = set.offset(i);
    crc = crc_of_values(&offset, 1, crc);
    crc = crc_of_values(set.cdf(i), set.num_symbols(i) + 1, crc);
  }
  EXPECT_EQ(crc, 0x031341C0u);
}

TEST(Golden, CoderOutput) {
  const CdfSet set = test::default_gaussian_set();
  std::vector<int32_t> values, indexes;
  golden_symbols(set, 100000, &values, &indexes);
  RansEncoder enc(set);
  for (size_t i = 0; i < values.size(); ++i) enc.encode(values[i], indexes[i]);
  const std::vector<uint8_t> bytes = enc.finish();
  EXPECT_EQ(bytes.size(), 81398u);
  EXPECT_EQ(crc_of(bytes), 0x1C221F62u);
  RansDecoder dec(set, bytes.data(), bytes.size());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(dec.decode(indexes[i]), values[i]);
  EXPECT_EQ(dec.finish(), DecodeStatus::kOk);

  const std::vector<uint8_t> empty = RansEncoder(set).finish();
  EXPECT_EQ(empty, (std::vector<uint8_t>{0, 0, 0, 1}));
}

// The container of every format version: versions differ in how the decoder computes the
// entropy parameters, not in the layout, so the bytes differ only in the version field and the
// header CRC. Version 1's constants are those it had before version 2 existed.
Container golden_container(uint16_t version) {
  const CdfSet set = test::default_gaussian_set();
  Container c;
  c.header.version = version;
  c.header.model_id = "lucid-small-v1";
  c.header.weight_hash = {0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x23, 0x45, 0x67};
  c.header.width = 768;
  c.header.height = 512;
  c.header.quality = 0.625f;
  std::vector<int32_t> values, indexes;
  golden_symbols(set, 3000, &values, &indexes);
  for (int k = 0; k < 3; ++k) {
    RansEncoder enc(set);
    for (size_t i = k * 1000; i < (k + 1) * 1000u; ++i) enc.encode(values[i], indexes[i]);
    c.chunks.push_back(Chunk{k == 0 ? ChunkKind::kHyperLatent : ChunkKind::kLatentSlice,
                             enc.finish()});
  }
  c.chunks.push_back(Chunk{ChunkKind::kLatentChecksum, {0x12, 0x34, 0x56, 0x78}});
  return c;
}

// The golden container's header: 4 + 2 + 1 + 1 + 14 + 8 + 4 + 4 + 4 + 2 bytes, then 4 chunk
// entries of 9, then the header CRC (4 bytes). The header is hashed on its own: a CRC over a
// message followed by its own CRC is a constant, so the whole stream's CRC does not depend on
// the header's content at all.
constexpr size_t kGoldenHeaderCrc = 44 + 4 * 9;

TEST(Golden, Container) {
  const std::vector<uint8_t> bytes = serialize(golden_container(1));
  EXPECT_EQ(bytes.size(), 2552u);
  EXPECT_EQ(crc_of(bytes), 0x09082FB3u);
  EXPECT_EQ(crc32(bytes.data(), kGoldenHeaderCrc), 0xC9C55DC0u);
  // The fixed header layout, spelled out.
  const std::vector<uint8_t> start(bytes.begin(), bytes.begin() + 10);
  EXPECT_EQ(start, (std::vector<uint8_t>{'L', 'U', 'C', 'D', 1, 0, 1, 14, 'l', 'u'}));
}

TEST(Golden, ContainerVersion2) {
  const std::vector<uint8_t> v1 = serialize(golden_container(1));
  const std::vector<uint8_t> bytes = serialize(golden_container(2));
  ASSERT_EQ(bytes.size(), 2552u);
  EXPECT_EQ(crc32(bytes.data(), kGoldenHeaderCrc), 0x807388C3u);
  const std::vector<uint8_t> start(bytes.begin(), bytes.begin() + 10);
  EXPECT_EQ(start, (std::vector<uint8_t>{'L', 'U', 'C', 'D', 2, 0, 1, 14, 'l', 'u'}));
  // Only the version (byte 4) and the header CRC differ from version 1.
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i != 4 && (i < kGoldenHeaderCrc || i >= kGoldenHeaderCrc + 4)) {
      ASSERT_EQ(bytes[i], v1[i]) << i;
    }
  }
}

}  // namespace
}  // namespace lucid::entropy
