#include "lucid/entropy/container.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "entropy_test_util.h"
#include "lucid/entropy/cdf.h"
#include "lucid/entropy/crc32.h"
#include "lucid/entropy/rans.h"

namespace lucid::entropy {
namespace {

// Writes a container byte by byte with any field values (serialize() refuses invalid ones),
// with correct CRCs unless told otherwise, so each parse check can be reached on its own.
struct RawContainer {
  uint8_t magic[4] = {'L', 'U', 'C', 'D'};
  uint16_t version = kFormatVersion;
  uint8_t stream_kind = 1;
  std::string model_id = "lucid-small-v1";
  uint32_t width = 768;
  uint32_t height = 512;
  float quality = 0.5f;
  struct RawChunk {
    uint8_t kind;
    std::vector<uint8_t> data;
  };
  std::vector<RawChunk> chunks = {{1, {1, 2, 3}}, {2, {4, 5, 6, 7}}};
  int declared_chunk_count = -1;  // >= 0 overrides chunks.size() in the header

  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(magic, magic + 4);
    auto u16 = [&](uint16_t v) {
      out.push_back(static_cast<uint8_t>(v));
      out.push_back(static_cast<uint8_t>(v >> 8));
    };
    auto u32 = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    u16(version);
    out.push_back(stream_kind);
    out.push_back(static_cast<uint8_t>(model_id.size()));
    out.insert(out.end(), model_id.begin(), model_id.end());
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(0xA0 + i));
    u32(width);
    u32(height);
    uint32_t qbits;
    std::memcpy(&qbits, &quality, 4);
    u32(qbits);
    u16(static_cast<uint16_t>(declared_chunk_count >= 0 ? declared_chunk_count : chunks.size()));
    for (const auto& c : chunks) {
      out.push_back(c.kind);
      u32(static_cast<uint32_t>(c.data.size()));
      u32(crc32(c.data.data(), c.data.size()));
    }
    u32(crc32(out.data(), out.size()));
    for (const auto& c : chunks) out.insert(out.end(), c.data.begin(), c.data.end());
    return out;
  }
};

ParseStatus parse_bytes(const std::vector<uint8_t>& b, Container* out = nullptr,
                        std::string* error = nullptr) {
  Container scratch;
  return parse(b.data(), b.size(), out != nullptr ? out : &scratch, error);
}

// A realistic container: Gaussian-coded latent slices and a factorized-prior z stream.
Container real_container(const CdfSet& set, const std::vector<double>& scales,
                         std::vector<std::vector<int32_t>>* values = nullptr,
                         std::vector<std::vector<int32_t>>* indexes = nullptr) {
  Container c;
  c.header.model_id = "lucid-small-v1";
  c.header.weight_hash = {1, 2, 3, 4, 5, 6, 7, 8};
  c.header.width = 64;
  c.header.height = 48;
  c.header.quality = 0.75f;
  test::SplitMix64 rng(77);
  const ChunkKind kinds[] = {ChunkKind::kHyperLatent, ChunkKind::kLatentSlice,
                             ChunkKind::kLatentSlice, ChunkKind::kSideInfo};
  for (ChunkKind kind : kinds) {
    std::vector<int32_t> v, idx;
    RansEncoder enc(set);
    for (int i = 0; i < 40; ++i) {
      const int t = static_cast<int>(rng.below(scales.size()));
      v.push_back(static_cast<int32_t>(std::lround(rng.normal() * scales[t])));
      idx.push_back(t);
      enc.encode(v.back(), t);
    }
    c.chunks.push_back(Chunk{kind, enc.finish()});
    if (values != nullptr) values->push_back(v);
    if (indexes != nullptr) indexes->push_back(idx);
  }
  return c;
}

bool same(const Container& a, const Container& b) {
  if (a.header.version != b.header.version || a.header.kind != b.header.kind ||
      a.header.model_id != b.header.model_id ||
      a.header.weight_hash != b.header.weight_hash || a.header.width != b.header.width ||
      a.header.height != b.header.height ||
      std::memcmp(&a.header.quality, &b.header.quality, 4) != 0 ||
      a.chunks.size() != b.chunks.size()) {
    return false;
  }
  for (size_t i = 0; i < a.chunks.size(); ++i) {
    if (a.chunks[i].kind != b.chunks[i].kind || a.chunks[i].data != b.chunks[i].data) return false;
  }
  return true;
}

TEST(Container, RoundTripWithRealStreams) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  std::vector<std::vector<int32_t>> values, indexes;
  const Container c = real_container(set, scales, &values, &indexes);
  const std::vector<uint8_t> bytes = serialize(c);
  Container parsed;
  std::string error = "stale";
  ASSERT_EQ(parse(bytes.data(), bytes.size(), &parsed, &error), ParseStatus::kOk) << error;
  EXPECT_TRUE(error.empty());
  EXPECT_TRUE(same(c, parsed));
  for (size_t k = 0; k < parsed.chunks.size(); ++k) {
    const auto& data = parsed.chunks[k].data;
    RansDecoder dec(set, data.data(), data.size());
    for (size_t i = 0; i < values[k].size(); ++i) {
      EXPECT_EQ(dec.decode(indexes[k][i]), values[k][i]);
    }
    EXPECT_EQ(dec.finish(), DecodeStatus::kOk);
  }
  EXPECT_EQ(serialize(parsed), bytes);
  EXPECT_EQ(parse(bytes.data(), bytes.size(), nullptr), ParseStatus::kOk);  // validate only
}

TEST(Container, EdgeCasesRoundTrip) {
  Container c;
  c.header.model_id = std::string(kMaxModelIdLength, '~');
  c.header.width = kMaxSide;
  c.header.height = static_cast<uint32_t>(kMaxPixels / kMaxSide);
  c.header.quality = -0.0f;
  EXPECT_EQ(serialize(c).size(), 4 + 2 + 1 + 1 + 64 + 8 + 4 + 4 + 4 + 2 + 4u);  // no chunks
  c.chunks.push_back(Chunk{ChunkKind::kLatentChecksum, {}});                   // empty chunk
  c.chunks.push_back(Chunk{ChunkKind::kSideInfo, std::vector<uint8_t>(100000, 0x5A)});
  const std::vector<uint8_t> bytes = serialize(c);
  Container parsed;
  ASSERT_EQ(parse_bytes(bytes, &parsed), ParseStatus::kOk);
  EXPECT_TRUE(same(c, parsed));
  EXPECT_TRUE(std::signbit(parsed.header.quality));
}

TEST(Container, BadMagic) {
  RawContainer r;
  r.magic[0] = 'P';
  std::string error;
  EXPECT_EQ(parse_bytes(r.bytes(), nullptr, &error), ParseStatus::kBadMagic);
  EXPECT_NE(error.find("magic"), std::string::npos) << error;
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G'};
  EXPECT_EQ(parse_bytes(png), ParseStatus::kBadMagic);
  const std::vector<uint8_t> one = {'X'};
  EXPECT_EQ(parse_bytes(one), ParseStatus::kBadMagic);
}

TEST(Container, UnsupportedVersion) {
  RawContainer r;
  r.version = kFormatVersion + 1;
  std::string error;
  EXPECT_EQ(parse_bytes(r.bytes(), nullptr, &error), ParseStatus::kUnsupportedVersion);
  EXPECT_NE(error.find("version " + std::to_string(kFormatVersion + 1)), std::string::npos)
      << error;
  r.version = 0;
  EXPECT_EQ(parse_bytes(r.bytes()), ParseStatus::kUnsupportedVersion);
  r.version = kMinFormatVersion - 1;
  EXPECT_EQ(parse_bytes(r.bytes()), ParseStatus::kUnsupportedVersion);
}

// Every version from kMinFormatVersion up is read, and the header says which one it was;
// serialize() writes the version asked for (kFormatVersion by default) and no other.
TEST(Container, OlderVersionsStillParse) {
  EXPECT_EQ(kMinFormatVersion, 1);
  EXPECT_EQ(kFormatVersion, 2);
  for (uint16_t v = kMinFormatVersion; v <= kFormatVersion; ++v) {
    RawContainer r;
    r.version = v;
    Container c;
    ASSERT_EQ(parse_bytes(r.bytes(), &c), ParseStatus::kOk) << "version " << v;
    EXPECT_EQ(c.header.version, v);
    const std::vector<uint8_t> again = serialize(c);
    EXPECT_EQ(again[4] | again[5] << 8, v);
    Container back;
    ASSERT_EQ(parse_bytes(again, &back), ParseStatus::kOk);
    EXPECT_EQ(back.header.version, v);
  }
  Container c;
  EXPECT_EQ(c.header.version, kFormatVersion);
  c.header.model_id = "m";
  c.header.width = c.header.height = 1;
  c.header.version = kFormatVersion + 1;
  EXPECT_THROW(serialize(c), std::invalid_argument);
  c.header.version = 0;
  EXPECT_THROW(serialize(c), std::invalid_argument);
}

TEST(Container, Truncated) {
  const std::vector<uint8_t> full = RawContainer{}.bytes();
  std::string error;
  EXPECT_EQ(parse_bytes({}, nullptr, &error), ParseStatus::kTruncated);
  const std::vector<uint8_t> header_only(full.begin(), full.begin() + 20);
  EXPECT_EQ(parse_bytes(header_only, nullptr, &error), ParseStatus::kTruncated);
  EXPECT_NE(error.find("header"), std::string::npos) << error;
  const std::vector<uint8_t> missing_last(full.begin(), full.end() - 1);
  EXPECT_EQ(parse_bytes(missing_last, nullptr, &error), ParseStatus::kTruncated);
  EXPECT_NE(error.find("chunks need"), std::string::npos) << error;
}

TEST(Container, HeaderCrcMismatch) {
  std::vector<uint8_t> b = RawContainer{}.bytes();
  b[12] ^= 0x20;  // inside the model id
  std::string error;
  EXPECT_EQ(parse_bytes(b, nullptr, &error), ParseStatus::kHeaderCrcMismatch);
  EXPECT_NE(error.find("header CRC"), std::string::npos) << error;
}

TEST(Container, ChunkCrcMismatch) {
  std::vector<uint8_t> b = RawContainer{}.bytes();
  b.back() ^= 1;  // last byte of chunk 1
  std::string error;
  EXPECT_EQ(parse_bytes(b, nullptr, &error), ParseStatus::kChunkCrcMismatch);
  EXPECT_EQ(error, "chunk 1 CRC mismatch");
}

TEST(Container, InconsistentLength) {
  std::vector<uint8_t> b = RawContainer{}.bytes();
  b.push_back(0);  // trailing byte
  std::string error;
  EXPECT_EQ(parse_bytes(b, nullptr, &error), ParseStatus::kInconsistentLength);
  EXPECT_NE(error.find("add up to 7 bytes but 8"), std::string::npos) << error;
}

TEST(Container, AbsurdSizes) {
  struct Case {
    uint32_t w, h;
  };
  for (Case c : {Case{0, 10}, Case{10, 0}, Case{0, 0}, Case{65536, 1}, Case{1, 65536},
                 Case{0xFFFFFFFF, 0xFFFFFFFF}, Case{65535, 4097}, Case{16385, 16385}}) {
    RawContainer r;
    r.width = c.w;
    r.height = c.h;
    std::string error;
    EXPECT_EQ(parse_bytes(r.bytes(), nullptr, &error), ParseStatus::kAbsurdSize)
        << c.w << "x" << c.h;
    EXPECT_NE(error.find("image size"), std::string::npos) << error;
  }
  RawContainer ok;
  ok.width = 16384;
  ok.height = 16384;  // exactly 2^28 pixels
  EXPECT_EQ(parse_bytes(ok.bytes()), ParseStatus::kOk);

  RawContainer many;
  many.chunks.assign(kMaxChunks + 1, RawContainer::RawChunk{1, {}});
  std::string error;
  EXPECT_EQ(parse_bytes(many.bytes(), nullptr, &error), ParseStatus::kAbsurdSize);
  EXPECT_NE(error.find("4097 chunks"), std::string::npos) << error;
  many.chunks.resize(kMaxChunks);
  EXPECT_EQ(parse_bytes(many.bytes()), ParseStatus::kOk);
  // A huge declared count with a short stream: rejected before reading the table.
  RawContainer lying;
  lying.declared_chunk_count = 65535;
  EXPECT_EQ(parse_bytes(lying.bytes()), ParseStatus::kAbsurdSize);
}

TEST(Container, BadFields) {
  auto status_with = [](auto edit) {
    RawContainer r;
    edit(r);
    std::string error;
    const ParseStatus s = parse_bytes(r.bytes(), nullptr, &error);
    EXPECT_FALSE(error.empty());
    return s;
  };
  EXPECT_EQ(status_with([](RawContainer& r) { r.stream_kind = 0; }), ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.stream_kind = 2; }), ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.model_id = ""; }), ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.model_id = std::string(65, 'a'); }),
            ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.model_id = "tab\there"; }),
            ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.model_id = "\x80"; }), ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.quality = std::nanf(""); }),
            ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) {
              r.quality = std::numeric_limits<float>::infinity();
            }),
            ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.chunks[1].kind = 0; }), ParseStatus::kBadField);
  EXPECT_EQ(status_with([](RawContainer& r) { r.chunks[0].kind = 5; }), ParseStatus::kBadField);
}

TEST(Container, StatusStringsAreDistinct) {
  const ParseStatus all[] = {ParseStatus::kOk,           ParseStatus::kBadMagic,
                             ParseStatus::kUnsupportedVersion, ParseStatus::kTruncated,
                             ParseStatus::kHeaderCrcMismatch, ParseStatus::kChunkCrcMismatch,
                             ParseStatus::kInconsistentLength, ParseStatus::kAbsurdSize,
                             ParseStatus::kBadField};
  for (ParseStatus a : all) {
    for (ParseStatus b : all) {
      if (a != b) {
        EXPECT_STRNE(parse_status_str(a), parse_status_str(b));
      }
    }
  }
}

TEST(Container, SerializeValidatesLimits) {
  auto throws_with = [](auto edit) {
    Container c;
    c.header.model_id = "m";
    c.header.width = 10;
    c.header.height = 10;
    edit(c);
    EXPECT_THROW(serialize(c), std::invalid_argument);
  };
  throws_with([](Container& c) { c.header.model_id = ""; });
  throws_with([](Container& c) { c.header.model_id = std::string(65, 'x'); });
  throws_with([](Container& c) { c.header.model_id = "new\nline"; });
  throws_with([](Container& c) { c.header.width = 0; });
  throws_with([](Container& c) { c.header.height = 65536; });
  throws_with([](Container& c) { c.header.width = c.header.height = 16385; });
  throws_with([](Container& c) { c.header.quality = std::nanf(""); });
  throws_with([](Container& c) { c.header.kind = static_cast<StreamKind>(9); });
  throws_with([](Container& c) {
    c.chunks.resize(kMaxChunks + 1, Chunk{ChunkKind::kSideInfo, {}});
  });
  throws_with([](Container& c) { c.chunks.push_back(Chunk{static_cast<ChunkKind>(0), {}}); });
}

TEST(Container, TruncationAtEveryByte) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  const std::vector<uint8_t> bytes = serialize(real_container(set, scales));
  for (size_t len = 0; len < bytes.size(); ++len) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + len);
    Container out;
    out.chunks.resize(3);  // must come back empty
    ASSERT_EQ(parse(prefix.data(), prefix.size(), &out), ParseStatus::kTruncated) << len;
    ASSERT_TRUE(out.chunks.empty() && out.header.model_id.empty());
  }
}

TEST(Container, EverySingleBitFlipIsDetected) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  const Container original = real_container(set, scales);
  const std::vector<uint8_t> bytes = serialize(original);
  for (size_t bit = 0; bit < 8 * bytes.size(); ++bit) {
    std::vector<uint8_t> flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Container out;
    std::string error;
    const ParseStatus s = parse(flipped.data(), flipped.size(), &out, &error);
    ASSERT_NE(s, ParseStatus::kOk) << "bit " << bit << " flip went unnoticed";
    ASSERT_FALSE(error.empty());
    ASSERT_TRUE(out.chunks.empty());
  }
}

TEST(Container, RandomGarbageNeverCrashes) {
  test::SplitMix64 rng(123);
  const std::vector<uint8_t> valid = RawContainer{}.bytes();
  int ok = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> junk(rng.below(200));
    for (auto& b : junk) b = static_cast<uint8_t>(rng.next());
    if (trial % 2 == 0 && junk.size() >= 6) {  // get past the magic and version checks
      std::copy(valid.begin(), valid.begin() + 6, junk.begin());
    }
    if (trial % 4 == 1) {  // a valid stream with a few random bytes overwritten
      junk = valid;
      for (int k = 0; k < 1 + static_cast<int>(rng.below(4)); ++k) {
        junk[rng.below(junk.size())] = static_cast<uint8_t>(rng.next());
      }
    }
    Container out;
    std::string error;
    const ParseStatus s = parse(junk.data(), junk.size(), &out, &error);
    if (s == ParseStatus::kOk) {
      ++ok;
      EXPECT_EQ(junk, valid);  // only an unchanged stream parses
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
  EXPECT_GE(ok, 0);
}

}  // namespace
}  // namespace lucid::entropy
