// The JPEG restorer: model shapes, weight loading errors, tiled inference (equal to untiled
// below one tile, seam-free above), odd and tiny sizes, JPEG input and bad input. Uses the
// random-weight test model tests/data/codiff-tiny.lucidw (lucid-train export-restore --init
// tiny), so no trained weights are needed.
#include "lucid/restoration/jpeg_restorer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "lucid/models/codiff.h"
#include "lucid/models/weights.h"
#include "lucid/restoration/jpeg_constraint.h"
#include "lucid/media/jpeg_io.h"

namespace lucid::restoration {
namespace {

const std::string kTinyModel = std::string(LUCID_SOURCE_DIR) + "/tests/data/codiff-tiny.lucidw";

// Photo-like content: smooth gradients, a sinusoidal texture and sharp edges.
std::vector<uint8_t> test_image(int w, int h, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-6, 6);
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(size_t(y) * w + x) * 3];
      const double wave = 120.0 + 90.0 * std::sin(x * 0.11) * std::cos(y * 0.07);
      const double edge = ((x / 23 + y / 17) % 2) ? 40.0 : -40.0;
      p[0] = uint8_t(std::clamp(wave + edge + noise(rng), 0.0, 255.0));
      p[1] = uint8_t(std::clamp(255.0 * x / std::max(1, w - 1) + noise(rng), 0.0, 255.0));
      p[2] = uint8_t(std::clamp(255.0 * y / std::max(1, h - 1) - edge, 0.0, 255.0));
    }
  return rgb;
}

struct DiffStats {
  int max = 0;
  double mean = 0;
};

DiffStats diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  DiffStats d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const int v = std::abs(int(a[i]) - int(b[i]));
    d.max = std::max(d.max, v);
    d.mean += double(v) / a.size();
  }
  return d;
}

RestoreOptions opts(int tile, int overlap = 32) {
  RestoreOptions o;
  o.threads = 1;
  o.tile = tile;
  o.overlap = overlap;
  return o;
}

TEST(CodiffModel, ShapesAndIdentityAtInit) {
  torch::manual_seed(0);
  auto cfg = models::CodiffConfig::tiny();
  models::Codiff model(cfg);
  model->eval();
  torch::NoGradGuard ng;
  torch::Tensor x = torch::rand({2, 3, 24, 40});
  auto cave = model->cave();
  torch::Tensor pooled = cave->pooled_features(x);
  EXPECT_EQ(pooled.sizes(), torch::IntArrayRef({2, cave->feature_dim()}));
  torch::Tensor emb = cave->embed(pooled);
  EXPECT_EQ(emb.sizes(), torch::IntArrayRef({2, cfg.emb_dim}));
  EXPECT_EQ(cave->predict_qf(emb).sizes(), torch::IntArrayRef({2}));
  EXPECT_EQ(cave->reconstruct(x, emb).sizes(), x.sizes());
  // CaVE accepts any size, down to one pixel.
  EXPECT_EQ(cave->pooled_features(torch::rand({1, 3, 1, 1})).size(1), cave->feature_dim());
  torch::Tensor q = torch::full({2}, 0.3), k = torch::ones({2});
  EXPECT_EQ(model->condition(torch::full({2}, 0.5), emb, q, k).sizes(),
            torch::IntArrayRef({2, cfg.cond_dim}));
  // The output layer starts at zero: a fresh restorer is the identity (never worse than JPEG).
  torch::Tensor y = model->restore(x, emb, q, k);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(y, x));
  model->unet()->randomize_output(0.05);
  EXPECT_GT((model->restore(x, emb, q, k) - x).abs().max().item<double>(), 1e-3);
}

// Training checkpoints are TorchScript archives: every submodule name must load back (a
// module named like a Python keyword, e.g. "in", saves but cannot be loaded).
TEST(CodiffModel, CheckpointArchiveRoundTrip) {
  torch::manual_seed(3);
  models::Codiff a(models::CodiffConfig::tiny());
  a->unet()->randomize_output(0.1);
  const std::string path = ::testing::TempDir() + "/codiff_ckpt.pt";
  {
    torch::serialize::OutputArchive out;
    a->save(out);
    out.save_to(path);
  }
  torch::manual_seed(4);
  models::Codiff b(models::CodiffConfig::tiny());
  torch::serialize::InputArchive in;
  in.load_from(path);
  b->load(in);
  auto pa = a->named_parameters(true), pb = b->named_parameters(true);
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

TEST(CodiffModel, ConfigRoundTripAndErrors) {
  for (const auto& c : {models::CodiffConfig::small(), models::CodiffConfig::tiny()}) {
    const auto back = models::CodiffConfig::parse(c.serialize());
    EXPECT_EQ(back.serialize(), c.serialize());
  }
  EXPECT_THROW(models::CodiffConfig::parse("name=x;c1=3"), std::invalid_argument);
  EXPECT_THROW(models::CodiffConfig::parse("garbage"), std::invalid_argument);
  EXPECT_THROW(models::CodiffConfig::by_name("huge"), std::invalid_argument);
  const auto c = models::CodiffConfig::small();
  EXPECT_EQ(c.sigma(c.t_star), 0.0);
  EXPECT_NEAR(c.sigma(1.0), c.sigma_max, 1e-12);
}

TEST(JpegRestorer, LoadsTestModel) {
  JpegRestorer r(kTinyModel);
  EXPECT_EQ(r.model_id(), "codiff-tiny");
  EXPECT_NE(r.config().find("name=tiny"), std::string::npos);
}

TEST(JpegRestorer, WeightFileErrors) {
  try {
    JpegRestorer r("/nonexistent/model.lucidw");
    FAIL() << "expected an error";
  } catch (const RestoreError& e) {
    EXPECT_EQ(e.kind(), RestoreError::Kind::kModel);
  }
  // A weight file of another architecture.
  const std::string path = ::testing::TempDir() + "/not_codiff.lucidw";
  models::WeightFile w;
  w.meta["arch"] = "fat";
  w.meta["model_id"] = "fat-tiny";
  w.meta["config"] = "x";
  w.tensors.emplace_back("a", torch::zeros({2}));
  models::save_weights(path, w, true);
  try {
    JpegRestorer r(path);
    FAIL() << "expected an error";
  } catch (const RestoreError& e) {
    EXPECT_EQ(e.kind(), RestoreError::Kind::kModel);
    EXPECT_NE(std::string(e.what()).find("not a JPEG restorer"), std::string::npos);
  }
  // Truncated file.
  std::FILE* f = std::fopen(kTinyModel.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<char> bytes(4000);
  const size_t n = std::fread(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  const std::string cut = ::testing::TempDir() + "/cut.lucidw";
  f = std::fopen(cut.c_str(), "wb");
  std::fwrite(bytes.data(), 1, n, f);
  std::fclose(f);
  EXPECT_THROW(JpegRestorer r(cut), RestoreError);
}

TEST(JpegRestorer, TinyAndOddSizes) {
  JpegRestorer r(kTinyModel);
  for (auto [w, h] : {std::pair{1, 1}, {1, 9}, {7, 5}, {13, 17}, {31, 8}, {65, 3}}) {
    auto img = test_image(w, h);
    auto out = r.restore(img.data(), w, h, size_t(w) * 3, 30, opts(512));
    EXPECT_EQ(out.width, w);
    EXPECT_EQ(out.height, h);
    ASSERT_EQ(out.rgb.size(), img.size());
    EXPECT_EQ(out.quality, 30);
    EXPECT_EQ(out.quality_source, QualitySource::kUser);
  }
}

TEST(JpegRestorer, NearLosslessQualityPassesThrough) {
  JpegRestorer r(kTinyModel);
  const int w = 33, h = 21;
  auto img = test_image(w, h);
  for (int q : {96, 100}) {
    auto out = r.restore(img.data(), w, h, size_t(w) * 3, q, opts(512));
    EXPECT_EQ(out.rgb, img) << "QF " << q;
  }
  EXPECT_NE(r.restore(img.data(), w, h, size_t(w) * 3, 95, opts(512)).rgb, img);
}

TEST(JpegRestorer, HighQualityShrinkKeepsPartOfTheChange) {
  EXPECT_EQ(detail_keep(5), 1.0);
  EXPECT_EQ(detail_keep(75), 1.0);
  EXPECT_NEAR(detail_keep(95), 0.55, 1e-12);
  for (int q = 2; q <= 100; ++q) {
    EXPECT_LE(detail_keep(q), detail_keep(q - 1)) << q;
    EXPECT_GE(detail_keep(q), 0.55) << q;
  }
  // restore() without file coefficients blends toward the input pixels: the change from the
  // input shrinks by detail_keep(q) above quality 75 and is untouched at or below it.
  JpegRestorer r(kTinyModel);
  const int w = 64, h = 48;
  auto img = test_image(w, h);
  RestoreOptions off = opts(512);
  off.high_quality_shrink = false;
  for (int q : {50, 90}) {
    const auto shrunk = r.restore(img.data(), w, h, size_t(w) * 3, q, opts(512)).rgb;
    const auto full = r.restore(img.data(), w, h, size_t(w) * 3, q, off).rgb;
    const double ratio = diff(img, shrunk).mean / diff(img, full).mean;
    if (q <= 75)
      EXPECT_EQ(shrunk, full);
    else
      EXPECT_NEAR(ratio, detail_keep(q), 0.05) << "QF " << q;
  }
}

TEST(JpegRestorer, StrideAndDeterminism) {
  JpegRestorer r(kTinyModel);
  const int w = 37, h = 29;
  auto img = test_image(w, h);
  std::vector<uint8_t> padded(size_t(w * 3 + 5) * h, 0xAB);
  for (int y = 0; y < h; ++y)
    std::copy(img.begin() + size_t(y) * w * 3, img.begin() + size_t(y + 1) * w * 3,
              padded.begin() + size_t(y) * (w * 3 + 5));
  auto a = r.restore(img.data(), w, h, size_t(w) * 3, 0, opts(512));
  auto b = r.restore(padded.data(), w, h, size_t(w) * 3 + 5, 0, opts(512));
  EXPECT_EQ(a.rgb, b.rgb);
  EXPECT_EQ(a.quality_source, QualitySource::kCave);
  EXPECT_GE(a.quality, 1);
  EXPECT_LE(a.quality, 100);
  auto c = r.restore(img.data(), w, h, size_t(w) * 3, 0, opts(512));
  EXPECT_EQ(a.rgb, c.rgb);
}

TEST(JpegRestorer, ResidualIsVisibleAndColourPreserved) {
  JpegRestorer r(kTinyModel);
  const int w = 96, h = 80;
  auto img = test_image(w, h);
  auto out = r.restore(img.data(), w, h, size_t(w) * 3, 20, opts(512));
  const DiffStats d = diff(img, out.rgb);
  // The test model has a random, non-zero output layer: the restorer changes the image, but
  // only mildly, and per-channel means stay close (no channel swap or colour shift).
  EXPECT_GT(d.max, 0);
  EXPECT_LT(d.mean, 20.0);
  for (int c = 0; c < 3; ++c) {
    double mi = 0, mo = 0;
    for (size_t i = c; i < img.size(); i += 3) {
      mi += img[i];
      mo += out.rgb[i];
    }
    EXPECT_NEAR(mi / (w * h), mo / (w * h), 12.0) << "channel " << c;
  }
}

TEST(JpegRestorer, TiledEqualsUntiledBelowOneTile) {
  JpegRestorer r(kTinyModel);
  const int w = 200, h = 120;
  auto img = test_image(w, h);
  auto a = r.restore(img.data(), w, h, size_t(w) * 3, 25, opts(256));
  auto b = r.restore(img.data(), w, h, size_t(w) * 3, 25, opts(4096));
  EXPECT_EQ(a.tiles, 1);
  EXPECT_EQ(a.rgb, b.rgb);
}

TEST(JpegRestorer, TiledIsSeamFree) {
  JpegRestorer r(kTinyModel);
  const int w = 301, h = 217;
  auto img = test_image(w, h, 7);
  auto whole = r.restore(img.data(), w, h, size_t(w) * 3, 25, opts(4096));
  auto tiled = r.restore(img.data(), w, h, size_t(w) * 3, 25, opts(96, 32));
  EXPECT_GT(tiled.tiles, 9);
  const DiffStats d = diff(whole.rgb, tiled.rgb);
  const DiffStats vs_input = diff(img, whole.rgb);
  // Tiles see less context than the whole image, so a few values differ slightly; a misplaced
  // or unblended tile would differ by about the size of the residual itself.
  EXPECT_LE(d.max, 4) << "mean " << d.mean;
  EXPECT_LT(d.mean, 0.1 * vs_input.mean + 0.05);
  // Without overlap the tiles still line up (only context is lost at their borders).
  auto hard = r.restore(img.data(), w, h, size_t(w) * 3, 25, opts(96, 0));
  const DiffStats dh = diff(whole.rgb, hard.rgb);
  std::printf("tiled vs whole: overlap 32: max %d mean %.4f; overlap 0: max %d mean %.4f; "
              "residual mean %.3f\n", d.max, d.mean, dh.max, dh.mean, vs_input.mean);
  EXPECT_LT(dh.mean, 0.5 * vs_input.mean);
}

TEST(JpegRestorer, ProgressAndAbort) {
  JpegRestorer r(kTinyModel);
  const int w = 150, h = 140;
  auto img = test_image(w, h);
  RestoreOptions o = opts(64, 16);
  uint64_t calls = 0, last_total = 0;
  o.progress = [&](uint64_t done, uint64_t total) {
    ++calls;
    last_total = total;
    EXPECT_LE(done, total);
    return true;
  };
  auto out = r.restore(img.data(), w, h, size_t(w) * 3, 50, o);
  EXPECT_EQ(calls, last_total);
  EXPECT_EQ(int(calls), out.tiles);
  o.progress = [](uint64_t done, uint64_t) { return done < 2; };
  try {
    r.restore(img.data(), w, h, size_t(w) * 3, 50, o);
    FAIL() << "expected abort";
  } catch (const RestoreError& e) {
    EXPECT_EQ(e.kind(), RestoreError::Kind::kAborted);
  }
}

TEST(JpegRestorer, InvalidArgumentsAndLimits) {
  JpegRestorer r(kTinyModel);
  auto img = test_image(16, 16);
  auto kind_of = [&](auto&& fn) {
    try {
      fn();
    } catch (const RestoreError& e) {
      return static_cast<int>(e.kind());
    }
    return -1;
  };
  const int invalid = static_cast<int>(RestoreError::Kind::kInvalidArgument);
  EXPECT_EQ(kind_of([&] { r.restore(img.data(), 0, 16, 48, 0, opts(512)); }), invalid);
  EXPECT_EQ(kind_of([&] { r.restore(img.data(), 16, 0, 48, 0, opts(512)); }), invalid);
  EXPECT_EQ(kind_of([&] { r.restore(img.data(), 16, 16, 47, 0, opts(512)); }), invalid);
  EXPECT_EQ(kind_of([&] { r.restore(img.data(), 16, 16, 48, 101, opts(512)); }), invalid);
  EXPECT_EQ(kind_of([&] { r.restore(nullptr, 16, 16, 48, 0, opts(512)); }), invalid);
  RestoreOptions small = opts(512);
  small.max_pixels = 100;
  EXPECT_EQ(kind_of([&] { r.restore(img.data(), 16, 16, 48, 0, small); }),
            static_cast<int>(RestoreError::Kind::kTooLarge));
}

TEST(JpegRestorer, FromJpegBytes) {
  JpegRestorer r(kTinyModel);
  const int w = 75, h = 53;
  auto img = test_image(w, h);
  for (int q : {10, 30, 85}) {
    auto bytes = jpeg::encode_jpeg(img.data(), w, h, q, jpeg::Subsampling::k420, true);
    auto out = r.restore_jpeg(bytes.data(), bytes.size(), opts(512));
    EXPECT_EQ(out.width, w);
    EXPECT_EQ(out.height, h);
    EXPECT_EQ(out.quality, q);
    EXPECT_EQ(out.quality_source, QualitySource::kFileExact);
    // Same result as decoding first, restoring with the quality given explicitly and
    // projecting the unshrunk output onto the file's quantization constraint set with the
    // quality's keep; without the projection, the plain restore() (which shrinks in pixels).
    jpeg::DecodedJpeg d;
    ASSERT_EQ(jpeg::decode_jpeg(bytes.data(), bytes.size(), &d, nullptr), jpeg::Status::kOk);
    RestoreOptions raw = opts(512);
    raw.high_quality_shrink = false;
    auto ref = r.restore(d.rgb.data(), w, h, size_t(w) * 3, q, raw);
    RestoreOptions plain = opts(512);
    plain.jpeg_constraint = false;
    auto unprojected = r.restore_jpeg(bytes.data(), bytes.size(), plain);
    EXPECT_FALSE(unprojected.constrained);
    EXPECT_EQ(unprojected.rgb, r.restore(d.rgb.data(), w, h, size_t(w) * 3, q, plain).rgb);
    jpeg::JpegCoefficients c;
    ASSERT_EQ(jpeg::read_jpeg_coefficients(bytes.data(), bytes.size(), &c, nullptr),
              jpeg::Status::kOk);
    ASSERT_TRUE(jpeg::project_to_constraints(c, ref.rgb.data(), w, h, size_t(w) * 3, nullptr,
                                             static_cast<float>(detail_keep(q))));
    EXPECT_TRUE(out.constrained);
    EXPECT_EQ(out.rgb, ref.rgb);
  }
  // Progressive 4:4:4 input, with a user-given quality.
  auto prog = jpeg::encode_jpeg(img.data(), w, h, 40, jpeg::Subsampling::k444, true, true);
  auto out = r.restore_jpeg(prog.data(), prog.size(), opts(512), 55);
  EXPECT_EQ(out.quality, 55);
  EXPECT_EQ(out.quality_source, QualitySource::kUser);
}

TEST(JpegRestorer, BadJpegInput) {
  JpegRestorer r(kTinyModel);
  const int w = 64, h = 48;
  auto img = test_image(w, h);
  auto bytes = jpeg::encode_jpeg(img.data(), w, h, 50, jpeg::Subsampling::k420, true);
  auto kind_of = [&](const std::vector<uint8_t>& data, uint64_t max_pixels = 1u << 28) {
    RestoreOptions o = opts(512);
    o.max_pixels = max_pixels;
    try {
      r.restore_jpeg(data.data(), data.size(), o);
    } catch (const RestoreError& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
      return static_cast<int>(e.kind());
    }
    return -1;
  };
  const int bad = static_cast<int>(RestoreError::Kind::kBadImage);
  EXPECT_EQ(kind_of({}), bad);
  EXPECT_EQ(kind_of({'P', 'N', 'G', 0}), bad);
  // Truncation at a spread of lengths never crashes and always reports an error.
  for (size_t cut = 1; cut < bytes.size(); cut += std::max<size_t>(1, bytes.size() / 60)) {
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + cut);
    EXPECT_EQ(kind_of(t), bad) << "cut at " << cut;
  }
  // Corrupted entropy-coded data.
  std::vector<uint8_t> c = bytes;
  for (size_t i = c.size() / 2; i < c.size() / 2 + 40; ++i) c[i] ^= 0x5A;
  const int k = kind_of(c);
  EXPECT_TRUE(k == bad || k == -1);  // some flips decode to a (wrong but valid) image
  EXPECT_EQ(kind_of(bytes, 100), static_cast<int>(RestoreError::Kind::kTooLarge));
  // A header declaring 60000 x 60000 pixels is refused before any pixel buffer is allocated.
  std::vector<uint8_t> huge = bytes;
  for (size_t i = 0; i + 8 < huge.size(); ++i)
    if (huge[i] == 0xFF && (huge[i + 1] == 0xC0 || huge[i + 1] == 0xC2)) {
      huge[i + 5] = huge[i + 7] = 0xEA;  // height, width = 0xEA60 = 60000
      huge[i + 6] = huge[i + 8] = 0x60;
      break;
    }
  EXPECT_EQ(kind_of(huge), static_cast<int>(RestoreError::Kind::kTooLarge));
}

// A short mutation fuzz of the JPEG path (decode + quality tables + restorer): random bit
// flips, byte overwrites, insertions and truncations of a valid file; each call must either
// succeed with a consistent image or report an error, never crash or hang.
TEST(JpegRestorer, MutatedJpegsNeverCrash) {
  JpegRestorer r(kTinyModel);
  const int w = 40, h = 24;
  auto img = test_image(w, h);
  const auto base = jpeg::encode_jpeg(img.data(), w, h, 30, jpeg::Subsampling::k420, true);
  std::mt19937 rng(1234);
  RestoreOptions o = opts(512);
  o.max_pixels = 1 << 20;  // mutated headers may declare huge sizes
  int ok = 0, errors = 0;
  for (int it = 0; it < 2000; ++it) {
    std::vector<uint8_t> m = base;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      const size_t pos = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[pos] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: m[pos] = uint8_t(rng()); break;
        case 2: m.insert(m.begin() + pos, uint8_t(rng())); break;
        default: m.resize(pos); break;
      }
    }
    try {
      auto out = r.restore_jpeg(m.data(), m.size(), o);
      ASSERT_EQ(out.rgb.size(), size_t(out.width) * out.height * 3);
      ++ok;
    } catch (const RestoreError&) {
      ++errors;
    }
  }
  EXPECT_EQ(ok + errors, 2000);
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace lucid::restoration
