// Golden hashes of one full codec stream, in quantities that are exact on every machine:
//  - the committed stream tests/data/sample-q75.lucid (`bash run.sh sample` with the shipped
//    fat-small at -q 75) is the file it was;
//  - its entropy-decoded symbols (hyper-latent and latents) hash to the value they had;
//  - the encoder's entropy half (header, rANS of the hyper-latent, the exact path's means and
//    scales slice by slice, the latent checksum) writes those symbols back into the same bytes.
// With the exact entropy-parameter path (format version 2) none of this depends on the CPU, its
// kernels or the thread count, unlike the analysis transform's floats (ShippedModels tests bound
// those with bands). A failure is a format change (bump entropy::kFormatVersion and keep the old
// path decoding) or new shipped weights (make the sample anew, update the constants).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "lucid/codec/image_codec.h"
#include "lucid/media/image_io.h"

namespace {

using lucid::codec::CodecError;
using lucid::codec::ImageCodec;
using lucid::codec::RunOptions;
using lucid::codec::Status;
using lucid::codec::StreamSymbols;

std::string src(const std::string& rel) { return std::string(LUCID_SOURCE_DIR) + "/" + rel; }

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

uint64_t fnv1a(const void* data, size_t bytes, uint64_t h = 1469598103934665603ULL) {
  const uint8_t* b = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

uint64_t symbols_hash(const StreamSymbols& s) {
  uint64_t h = fnv1a(s.z.data(), s.z.size() * 4);
  return fnv1a(s.y.data(), s.y.size() * 4, h);
}

RunOptions threads(int n) {
  RunOptions o;
  o.threads = n;
  return o;
}

// Measured when the test was added (shipped fat-small step 43452, weight hash ba6fd7259783f1ec).
constexpr uint64_t kStreamHash = 8762851478022168046ULL;   // FNV-1a 64 of sample-q75.lucid
constexpr uint64_t kSymbolsHash = 18175206011219412257ULL;  // of its z, then its y symbols

TEST(StreamGolden, ShippedSampleStreamSymbolsAndReencoding) {
  const std::string weights = src("models/weights/fat-small.lucidw");
  if (!std::filesystem::exists(weights)) GTEST_SKIP() << "no shipped model";
  const std::vector<uint8_t> stream = slurp(src("tests/data/sample-q75.lucid"));
  ASSERT_EQ(stream.size(), 15120u);
  EXPECT_EQ(fnv1a(stream.data(), stream.size()), kStreamHash);

  const ImageCodec codec(weights);
  for (int n : {1, 2}) {
    const StreamSymbols s = codec.decode_symbols(stream.data(), stream.size(), threads(n));
    EXPECT_EQ(s.width, 500u);
    EXPECT_EQ(s.height, 500u);
    EXPECT_EQ(s.version, 2);
    EXPECT_EQ(s.quality01, 74.0f / 99.0f);  // -q 75 (1..100 -> 0..1)
    // 500x500 pads to 512x512: z is 96 x 8 x 8, y is 160 x 32 x 32 (fat-small's config).
    EXPECT_EQ(s.z.size(), 96u * 8 * 8);
    EXPECT_EQ(s.y.size(), 160u * 32 * 32);
    EXPECT_EQ(symbols_hash(s), kSymbolsHash) << "threads " << n;
    EXPECT_EQ(codec.encode_symbols(s, threads(n)), stream) << "threads " << n;
  }
}

// The round trip with any weights and image: random-weight fat-tiny, the bundled photo.
TEST(StreamGolden, SymbolsRoundTripToTheSameBytes) {
  const ImageCodec codec(src("tests/data/fat-tiny.lucidw"));
  const lucid::media::Image img = lucid::media::read_image(src("tests/data/sample.png"));
  const std::vector<uint8_t> stream =
      codec.encode(img.rgb.data(), img.width, img.height, size_t{img.width} * 3, 0.4, threads(2));
  const StreamSymbols s = codec.decode_symbols(stream.data(), stream.size(), threads(2));
  EXPECT_EQ(codec.encode_symbols(s, threads(1)), stream);

  // A changed symbol gives another valid stream, which decodes to that symbol.
  StreamSymbols t = s;
  t.y[t.y.size() / 2] += 3;
  const std::vector<uint8_t> other = codec.encode_symbols(t, threads(2));
  EXPECT_NE(other, stream);
  EXPECT_EQ(codec.decode_symbols(other.data(), other.size(), threads(2)).y, t.y);

  // Counts that do not fit the size are refused.
  t = s;
  t.y.pop_back();
  try {
    codec.encode_symbols(t, threads(1));
    FAIL() << "a short symbol list was accepted";
  } catch (const CodecError& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument) << e.what();
  }
  t = s;
  t.width += 64;
  EXPECT_THROW(codec.encode_symbols(t, threads(1)), CodecError);
  auto status_of = [&](const StreamSymbols& x) {
    try {
      codec.encode_symbols(x, threads(1));
    } catch (const CodecError& e) {
      return e.status();
    }
    return Status::kOk;
  };
  t = s;
  t.version = 1;  // version 1's latents depend on the machine: not re-coded
  EXPECT_EQ(status_of(t), Status::kUnsupportedVersion);
  t = s;
  t.width = 70000;  // over the container's side limit, as encode() refuses it
  t.height = 16;
  EXPECT_EQ(status_of(t), Status::kLimitExceeded);
}

}  // namespace
