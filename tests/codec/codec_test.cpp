// The image codec through the C API: round trips at any size, determinism across thread counts,
// rate control, and every kind of bad stream.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "codec_test_util.h"
#include "lucid/entropy/container.h"

using namespace lucid::test;

namespace {

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return se == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 * a.size() / se);
}

TEST(Codec, RoundTripsAnySize) {
  ContextPtr ctx(tiny_model());
  ASSERT_TRUE(ctx.get()) << lucid_last_error(nullptr);
  const std::pair<uint32_t, uint32_t> sizes[] = {{1, 1}, {1, 37}, {17, 33}, {64, 64}, {65, 64},
                                                 {130, 71}, {200, 3}};
  for (auto [w, h] : sizes) {
    auto img = synthetic_image(w, h, w * 31 + h);
    auto s = encode(ctx.get(), img, w, h, 60);
    ASSERT_FALSE(s.empty()) << w << "x" << h << ": " << lucid_last_error(ctx.get());
    std::vector<uint8_t> out;
    uint32_t ow = 0, oh = 0;
    ASSERT_EQ(decode(ctx.get(), s, &out, &ow, &oh), LUCID_OK) << lucid_last_error(ctx.get());
    EXPECT_EQ(ow, w);
    EXPECT_EQ(oh, h);
    EXPECT_EQ(out.size(), img.size());
  }
}

// Streams decode to bit-identical pixels whatever the thread counts of encoder and decoder.
TEST(Codec, DeterministicAcrossThreadCounts) {
  ContextPtr a(tiny_model()), b(tiny_model());
  ASSERT_TRUE(a.get() && b.get());
  // The last size is wide enough for the decoder to synthesize it as two parallel tiles.
  const std::pair<uint32_t, uint32_t> sizes[] = {{96, 80}, {133, 101}, {170, 122}, {530, 70}};
  for (int seed = 0; seed < 4; ++seed) {
    const auto [w, h] = sizes[seed];
    auto img = synthetic_image(w, h, 100 + seed);
    for (float q : {1.0f, 50.0f, 100.0f}) {
      for (int enc_threads : {1, 2}) {
        ASSERT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_THREADS, enc_threads), LUCID_OK);
        auto s = encode(a.get(), img, w, h, q);
        ASSERT_FALSE(s.empty());
        std::vector<uint8_t> d1, d2;
        uint32_t w1, h1, w2, h2;
        ASSERT_EQ(lucid_context_set_option(b.get(), LUCID_OPT_THREADS, 1), LUCID_OK);
        ASSERT_EQ(decode(b.get(), s, &d1, &w1, &h1), LUCID_OK) << lucid_last_error(b.get());
        ASSERT_EQ(lucid_context_set_option(b.get(), LUCID_OPT_THREADS, 2), LUCID_OK);
        ASSERT_EQ(decode(b.get(), s, &d2, &w2, &h2), LUCID_OK) << lucid_last_error(b.get());
        EXPECT_EQ(d1, d2) << "seed " << seed << " q " << q << " enc threads " << enc_threads;
      }
    }
  }
}

// Tiled transforms (large images) decode and match the untiled result closely.
TEST(Codec, TiledTransformsMatchUntiled) {
  ContextPtr a(tiny_model());
  ASSERT_TRUE(a.get());
  const uint32_t w = 600, h = 300;
  auto img = synthetic_image(w, h, 5);
  auto whole = encode(a.get(), img, w, h, 70);
  ASSERT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_TILE, 256), LUCID_OK);
  auto tiled = encode(a.get(), img, w, h, 70);
  ASSERT_FALSE(whole.empty());
  ASSERT_FALSE(tiled.empty());
  std::vector<uint8_t> d1, d2;
  uint32_t w1, h1;
  ASSERT_EQ(decode(a.get(), tiled, &d1, &w1, &h1), LUCID_OK) << lucid_last_error(a.get());
  ASSERT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_TILE, 4096), LUCID_OK);
  ASSERT_EQ(decode(a.get(), whole, &d2, &w1, &h1), LUCID_OK);
  EXPECT_GT(psnr(d1, d2), 30.0);  // same model, tile seams only
}

TEST(Codec, TargetSizeFitsAndUsesTheBudget) {
  ContextPtr a(tiny_model());
  ASSERT_TRUE(a.get());
  const uint32_t w = 160, h = 128;
  auto img = synthetic_image(w, h, 9);
  auto lo = encode(a.get(), img, w, h, 1), hi = encode(a.get(), img, w, h, 100);
  ASSERT_LT(lo.size(), hi.size());
  const size_t budget = (lo.size() + hi.size()) / 2;
  uint8_t* out = nullptr;
  size_t size = 0;
  float q = 0;
  ASSERT_EQ(lucid_encode_image_to_size(a.get(), img.data(), w, h, w * 3, budget, &out, &size, &q),
            LUCID_OK);
  lucid_free(out);
  EXPECT_LE(size, budget);
  EXPECT_GT(q, 1.0f);
  EXPECT_LT(q, 100.0f);
  EXPECT_EQ(lucid_encode_image_to_size(a.get(), img.data(), w, h, w * 3, 10, &out, &size, &q),
            LUCID_ERROR_INVALID_ARGUMENT);
}

TEST(Codec, RejectsBadArguments) {
  ContextPtr a(tiny_model());
  ASSERT_TRUE(a.get());
  auto img = synthetic_image(8, 8, 1);
  uint8_t* out = nullptr;
  size_t size = 0;
  EXPECT_EQ(lucid_encode_image(a.get(), img.data(), 8, 8, 24, 0.5f, &out, &size),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_encode_image(a.get(), img.data(), 8, 8, 24, 101.0f, &out, &size),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_encode_image(a.get(), img.data(), 8, 8, 10, 50.0f, &out, &size),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_encode_image(a.get(), nullptr, 8, 8, 24, 50.0f, &out, &size),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_encode_image(a.get(), img.data(), 0, 8, 24, 50.0f, &out, &size),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_encode_image(a.get(), img.data(), 70000, 1, 210000, 50.0f, &out, &size),
            LUCID_ERROR_LIMIT_EXCEEDED);
  ASSERT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_MAX_PIXELS, 32), LUCID_OK);
  EXPECT_EQ(lucid_encode_image(a.get(), img.data(), 8, 8, 24, 50.0f, &out, &size),
            LUCID_ERROR_LIMIT_EXCEEDED);
  EXPECT_NE(std::string(lucid_last_error(a.get())), "");
  EXPECT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_THREADS, 0), LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_encode_image(nullptr, img.data(), 8, 8, 24, 50.0f, &out, &size),
            LUCID_ERROR_INVALID_ARGUMENT);
}

TEST(Codec, MissingOrWrongModelIsAModelError) {
  lucid_context* ctx = nullptr;
  EXPECT_EQ(lucid_context_create("/nonexistent/model.lucidw", LUCID_MODEL_CODEC, &ctx),
            LUCID_ERROR_MODEL);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_NE(std::string(lucid_last_error(nullptr)).find("nonexistent"), std::string::npos);
  // A non-weight file.
  const std::string sample = std::string(LUCID_SOURCE_DIR) + "/tests/data/sample.png";
  EXPECT_EQ(lucid_context_create(sample.c_str(), LUCID_MODEL_CODEC, &ctx), LUCID_ERROR_MODEL);
  lucid_context_destroy(nullptr);  // NULL-safe
}

class BadStreams : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_ = std::make_unique<ContextPtr>(tiny_model());
    ASSERT_TRUE(ctx_->get());
    img_ = synthetic_image(70, 50, 3);
    stream_ = encode(ctx_->get(), img_, 70, 50, 80);
    ASSERT_FALSE(stream_.empty());
  }
  lucid_status decode_status(const std::vector<uint8_t>& s) {
    std::vector<uint8_t> out;
    uint32_t w, h;
    return decode(ctx_->get(), s, &out, &w, &h);
  }
  std::unique_ptr<ContextPtr> ctx_;
  std::vector<uint8_t> img_, stream_;
};

TEST_F(BadStreams, EveryTruncationFails) {
  for (size_t n = 0; n < stream_.size(); ++n) {
    std::vector<uint8_t> t(stream_.begin(), stream_.begin() + n);
    const lucid_status s = decode_status(t);
    EXPECT_NE(s, LUCID_OK) << "prefix " << n;
    EXPECT_NE(s, LUCID_ERROR_INTERNAL) << "prefix " << n;
  }
}

TEST_F(BadStreams, EveryBitFlipFails) {
  for (size_t i = 0; i < stream_.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 3) {
      auto t = stream_;
      t[i] ^= static_cast<uint8_t>(1 << bit);
      const lucid_status s = decode_status(t);
      EXPECT_NE(s, LUCID_OK) << "byte " << i << " bit " << bit;
      EXPECT_NE(s, LUCID_ERROR_INTERNAL) << "byte " << i << " bit " << bit;
    }
  }
}

TEST_F(BadStreams, OtherWeightsAreAModelMismatch) {
  // Same model id, different weights: re-serialize with another hash.
  lucid::entropy::Container c;
  ASSERT_EQ(lucid::entropy::parse(stream_.data(), stream_.size(), &c), lucid::entropy::ParseStatus::kOk);
  c.header.weight_hash[0] ^= 1;
  EXPECT_EQ(decode_status(lucid::entropy::serialize(c)), LUCID_ERROR_MODEL_MISMATCH);
  c.header.weight_hash[0] ^= 1;
  c.header.model_id = "fat-other";
  EXPECT_EQ(decode_status(lucid::entropy::serialize(c)), LUCID_ERROR_MODEL_MISMATCH);
}

TEST_F(BadStreams, LatentChecksumIsVerified) {
  lucid::entropy::Container c;
  ASSERT_EQ(lucid::entropy::parse(stream_.data(), stream_.size(), &c), lucid::entropy::ParseStatus::kOk);
  ASSERT_EQ(c.chunks.back().kind, lucid::entropy::ChunkKind::kLatentChecksum);
  c.chunks.back().data[0] ^= 0x40;  // container CRCs are recomputed: only the checksum is wrong
  EXPECT_EQ(decode_status(lucid::entropy::serialize(c)), LUCID_ERROR_CHECKSUM_MISMATCH);
}

TEST_F(BadStreams, GarbageIsNotAStream) {
  std::vector<uint8_t> junk(300, 0x5a);
  EXPECT_EQ(decode_status(junk), LUCID_ERROR_BAD_STREAM);
  EXPECT_EQ(decode_status({}), LUCID_ERROR_TRUNCATED);
  lucid_stream_info info;
  EXPECT_EQ(lucid_stream_get_info(stream_.data(), stream_.size(), &info), LUCID_OK);
  EXPECT_EQ(info.width, 70u);
  EXPECT_EQ(std::string(info.model_id), "fat-tiny");
}

// The shipped model: rate grows with quality and quality grows with rate.
TEST(ShippedModel, RateAndQualityAreMonotoneInQ) {
  if (!std::filesystem::exists(default_model())) GTEST_SKIP() << "no shipped model";
  ContextPtr a(default_model());
  ASSERT_TRUE(a.get()) << lucid_last_error(nullptr);
  const uint32_t w = 128, h = 96;
  auto img = synthetic_image(w, h, 11);
  size_t prev = 0;
  for (float q : {1.0f, 25.0f, 50.0f, 75.0f, 100.0f}) {
    auto s = encode(a.get(), img, w, h, q);
    ASSERT_FALSE(s.empty());
    EXPECT_GT(s.size(), prev) << "q " << q;
    prev = s.size();
  }
}

// --effort: the refined stream is an ordinary stream (same decoder) that spends fewer bits or
// gives a better picture than the analysis transform's latents, never worse at both.
TEST(ShippedModel, HigherEffortGivesABetterStreamForTheSameDecoder) {
  if (!std::filesystem::exists(default_model())) GTEST_SKIP() << "no shipped model";
  ContextPtr a(default_model());
  ASSERT_TRUE(a.get()) << lucid_last_error(nullptr);
  EXPECT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_EFFORT, 0), LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_EFFORT, 10), LUCID_ERROR_INVALID_ARGUMENT);
  const uint32_t w = 128, h = 96;
  auto img = synthetic_image(w, h, 5);
  double bpp[2], db[2];
  std::vector<uint8_t> streams[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(lucid_context_set_option(a.get(), LUCID_OPT_EFFORT, i == 0 ? 1 : 4), LUCID_OK);
    streams[i] = encode(a.get(), img, w, h, 50);
    ASSERT_FALSE(streams[i].empty()) << lucid_last_error(a.get());
    std::vector<uint8_t> out;
    uint32_t ow = 0, oh = 0;
    ASSERT_EQ(decode(a.get(), streams[i], &out, &ow, &oh), LUCID_OK);
    bpp[i] = 8.0 * streams[i].size() / (w * h);
    db[i] = psnr(img, out);
  }
  EXPECT_NE(streams[0], streams[1]);
  EXPECT_LE(bpp[1], bpp[0] * 1.02);
  EXPECT_GE(db[1], db[0] - 0.05);
  EXPECT_TRUE(bpp[1] < bpp[0] * 0.99 || db[1] > db[0] + 0.05)
      << bpp[0] << " bpp " << db[0] << " dB -> " << bpp[1] << " bpp " << db[1] << " dB";
  RecordProperty("effort1", std::to_string(bpp[0]) + " bpp " + std::to_string(db[0]) + " dB");
  RecordProperty("effort4", std::to_string(bpp[1]) + " bpp " + std::to_string(db[1]) + " dB");
}

}  // namespace
