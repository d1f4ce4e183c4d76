#include "lucid/media/jpeg_io.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace lucid::jpeg {
namespace {

// Smooth content with some texture; sides deliberately not multiples of 8 or 16.
std::vector<uint8_t> smooth_image(int w, int h) {
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(size_t(y) * w + x) * 3];
      const double wave = 128.0 + 100.0 * std::sin(x * 0.07) * std::cos(y * 0.05);
      p[0] = uint8_t(std::clamp(wave, 0.0, 255.0));
      p[1] = uint8_t(std::clamp(255.0 * x / std::max(1, w - 1), 0.0, 255.0));
      p[2] = uint8_t(std::clamp(255.0 * y / std::max(1, h - 1), 0.0, 255.0));
    }
  return rgb;
}

std::vector<uint8_t> random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  for (auto& v : rgb) v = uint8_t(rng() & 0xFF);
  return rgb;
}

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  double se = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    se += d * d;
  }
  if (se == 0.0) return 100.0;
  return 10.0 * std::log10(255.0 * 255.0 / (se / double(a.size())));
}

Status decode(const std::vector<uint8_t>& bytes, DecodedJpeg* out, const Limits& lim = {}) {
  std::string err;
  Status s = decode_jpeg(bytes.data(), bytes.size(), out, &err, lim);
  if (s != Status::kOk) {
    EXPECT_FALSE(err.empty());
  }
  return s;
}

// TurboJPEG (a second, independent encoder path) for grayscale, CMYK and cross checks.
std::vector<uint8_t> tj_compress(const uint8_t* pixels, int w, int h, int pixel_format, int samp,
                                 int quality) {
  tjhandle tj = tjInitCompress();
  if (!tj) throw std::runtime_error("tjInitCompress");
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, pixels, w, 0, h, pixel_format, &buf, &size, samp, quality,
                             TJFLAG_ACCURATEDCT);
  std::vector<uint8_t> out;
  if (rc == 0) out.assign(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  if (rc != 0) throw std::runtime_error("tjCompress2 failed");
  return out;
}

std::vector<uint8_t> tj_decompress_rgb(const std::vector<uint8_t>& jpg, int* w, int* h) {
  tjhandle tj = tjInitDecompress();
  int samp = 0, cs = 0;
  std::vector<uint8_t> rgb;
  if (tjDecompressHeader3(tj, jpg.data(), jpg.size(), w, h, &samp, &cs) == 0) {
    rgb.resize(size_t(*w) * *h * 3);
    if (tjDecompress2(tj, jpg.data(), jpg.size(), rgb.data(), *w, 0, *h, TJPF_RGB,
                      TJFLAG_ACCURATEDCT) != 0)
      rgb.clear();
  }
  tjDestroy(tj);
  return rgb;
}

// Offset of the first byte after the FFxx marker `m` (the length field), or 0.
size_t find_marker(const std::vector<uint8_t>& b, uint8_t m) {
  for (size_t i = 2; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == m) return i + 2;
  return 0;
}

const Subsampling kAllSubsamplings[] = {Subsampling::k444, Subsampling::k422, Subsampling::k420,
                                        Subsampling::k440, Subsampling::k411};
const char* kSubsamplingNames[] = {"4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1"};

TEST(JpegIo, StatusStringsAreDistinct) {
  std::vector<std::string> seen;
  for (Status s : {Status::kOk, Status::kNotJpeg, Status::kCorrupt, Status::kTruncated,
                   Status::kTooLarge, Status::kUnsupported, Status::kOutOfMemory}) {
    ASSERT_NE(status_str(s), nullptr);
    seen.emplace_back(status_str(s));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
}

TEST(JpegIo, EveryQualityIsRecoveredExactly) {
  const int w = 67, h = 45;
  const auto src = smooth_image(w, h);
  for (int q = 1; q <= 100; ++q) {
    const int si = q % 5;
    const auto bytes = encode_jpeg(src.data(), w, h, q, kAllSubsamplings[si], q % 2 == 0);
    DecodedJpeg d;
    ASSERT_EQ(decode(bytes, &d), Status::kOk) << "q=" << q;
    EXPECT_EQ(d.width, w);
    EXPECT_EQ(d.height, h);
    EXPECT_EQ(d.components, 3);
    EXPECT_FALSE(d.progressive);
    EXPECT_EQ(d.subsampling, kSubsamplingNames[si]) << "q=" << q;
    ASSERT_EQ(d.rgb.size(), size_t(w) * h * 3);
    EXPECT_EQ(d.qt.count, 2);
    EXPECT_EQ(d.qt.num_components, 3);
    EXPECT_EQ(d.qt.component_table[0], 0);
    EXPECT_EQ(d.qt.component_table[1], 1);
    EXPECT_EQ(d.qt.tables[0], ijg_table(q, false));
    EXPECT_EQ(d.qt.tables[1], ijg_table(q, true));
    const QualityEstimate e = estimate_quality(d.qt);
    EXPECT_TRUE(e.exact) << "q=" << q;
    EXPECT_EQ(e.quality, double(q));
    // Quality ordering sanity: low qualities are poor but not garbage, high ones are close.
    const double p = psnr(src, d.rgb);
    EXPECT_GT(p, q >= 90 ? 35.0 : q >= 50 ? 28.0 : 17.0) << "q=" << q;
  }
}

TEST(JpegIo, RandomImagesAllSubsamplingsAndProgressive) {
  const int w = 40, h = 33;
  const auto src = random_image(w, h, 7);
  for (int si = 0; si < 5; ++si) {
    for (int q : {10, 50, 75, 95, 100}) {
      const auto base = encode_jpeg(src.data(), w, h, q, kAllSubsamplings[si], true, false);
      const auto prog = encode_jpeg(src.data(), w, h, q, kAllSubsamplings[si], true, true);
      DecodedJpeg a, b;
      ASSERT_EQ(decode(base, &a), Status::kOk);
      ASSERT_EQ(decode(prog, &b), Status::kOk);
      EXPECT_FALSE(a.progressive);
      EXPECT_TRUE(b.progressive);
      EXPECT_EQ(b.subsampling, kSubsamplingNames[si]);
      // Same tables, same coefficients: progressive decodes to exactly the same pixels.
      EXPECT_EQ(a.rgb, b.rgb);
      const QualityEstimate e = estimate_quality(b.qt);
      EXPECT_TRUE(e.exact);
      EXPECT_EQ(e.quality, q);
      // Noise is the worst case; still, 4:4:4 at 100 must be near lossless.
      if (si == 0 && q == 100) {
        EXPECT_GT(psnr(src, a.rgb), 45.0);
      }
    }
  }
}

TEST(JpegIo, MatchesTurboJpegDecoder) {
  const int w = 61, h = 38;
  const auto src = smooth_image(w, h);
  const int tj_samps[] = {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440, TJSAMP_411};
  for (int si = 0; si < 5; ++si) {
    const auto jpg = tj_compress(src.data(), w, h, TJPF_RGB, tj_samps[si], 83);
    DecodedJpeg d;
    ASSERT_EQ(decode(jpg, &d), Status::kOk);
    EXPECT_EQ(d.subsampling, kSubsamplingNames[si]);
    int tw = 0, th = 0;
    const auto ref = tj_decompress_rgb(jpg, &tw, &th);
    ASSERT_EQ(tw, w);
    ASSERT_EQ(th, h);
    EXPECT_EQ(d.rgb, ref) << kSubsamplingNames[si];
    const QualityEstimate e = estimate_quality(d.qt);
    EXPECT_TRUE(e.exact);
    EXPECT_EQ(e.quality, 83.0);
  }
}

TEST(JpegIo, GrayscaleIsExpandedToRgb) {
  const int w = 30, h = 21;
  std::vector<uint8_t> gray(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) gray[size_t(y) * w + x] = uint8_t(x * 8 + y);
  for (int q : {5, 60, 97}) {
    const auto jpg = tj_compress(gray.data(), w, h, TJPF_GRAY, TJSAMP_GRAY, q);
    DecodedJpeg d;
    ASSERT_EQ(decode(jpg, &d), Status::kOk);
    EXPECT_EQ(d.components, 1);
    EXPECT_EQ(d.subsampling, "gray");
    ASSERT_EQ(d.rgb.size(), size_t(w) * h * 3);
    std::vector<uint8_t> expanded(gray.size() * 3);
    for (size_t i = 0; i < gray.size(); ++i)
      expanded[3 * i] = expanded[3 * i + 1] = expanded[3 * i + 2] = gray[i];
    for (size_t i = 0; i < gray.size(); ++i) {
      ASSERT_EQ(d.rgb[3 * i], d.rgb[3 * i + 1]);
      ASSERT_EQ(d.rgb[3 * i], d.rgb[3 * i + 2]);
    }
    EXPECT_GT(psnr(expanded, d.rgb), q >= 60 ? 30.0 : 20.0);
    EXPECT_EQ(d.qt.count, 1);
    EXPECT_EQ(d.qt.num_components, 1);
    const QualityEstimate e = estimate_quality(d.qt);
    EXPECT_TRUE(e.exact);
    EXPECT_EQ(e.quality, q);
  }
}

TEST(JpegIo, CmykIsUnsupported) {
  const int w = 16, h = 16;
  std::vector<uint8_t> cmyk(size_t(w) * h * 4, 100);
  const auto jpg = tj_compress(cmyk.data(), w, h, TJPF_CMYK, TJSAMP_444, 90);
  DecodedJpeg d;
  EXPECT_EQ(decode(jpg, &d), Status::kUnsupported);
  EXPECT_TRUE(d.rgb.empty());
}

TEST(JpegIo, NotJpegAndEmptyInput) {
  DecodedJpeg d;
  std::string err;
  EXPECT_EQ(decode_jpeg(nullptr, 0, &d, &err), Status::kNotJpeg);
  const uint8_t one = 0;
  EXPECT_EQ(decode_jpeg(&one, 0, &d, &err), Status::kNotJpeg);
  EXPECT_EQ(decode_jpeg(&one, 1, &d, &err), Status::kNotJpeg);
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13};
  EXPECT_EQ(decode(png, &d), Status::kNotJpeg);
  const std::string text = "hello, this is not an image";
  EXPECT_EQ(decode_jpeg(reinterpret_cast<const uint8_t*>(text.data()), text.size(), &d, &err),
            Status::kNotJpeg);
  EXPECT_FALSE(err.empty());
  const std::vector<uint8_t> soi_only = {0xFF, 0xD8};
  EXPECT_EQ(decode(soi_only, &d), Status::kTruncated);
  const std::vector<uint8_t> ff = {0xFF};
  EXPECT_EQ(decode(ff, &d), Status::kTruncated);
  EXPECT_EQ(decode_jpeg(ff.data(), 1, nullptr, &err), Status::kCorrupt);  // no crash
}

void check_every_prefix(const std::vector<uint8_t>& full) {
  for (size_t len = 0; len < full.size(); ++len) {
    const std::vector<uint8_t> prefix(full.begin(), full.begin() + long(len));
    DecodedJpeg d;
    std::string err;
    const Status s = decode_jpeg(prefix.data(), prefix.size(), &d, &err);
    if (len == 0) {
      EXPECT_EQ(s, Status::kNotJpeg);
    } else {
      EXPECT_EQ(s, Status::kTruncated) << "len=" << len << " of " << full.size() << ": " << err;
    }
    EXPECT_TRUE(d.rgb.empty());
  }
}

TEST(JpegIo, EveryTruncationIsReportedAsTruncated) {
  const int w = 35, h = 27;
  const auto src = smooth_image(w, h);
  check_every_prefix(encode_jpeg(src.data(), w, h, 75, Subsampling::k420, true, false));
  check_every_prefix(encode_jpeg(src.data(), w, h, 90, Subsampling::k444, false, true));
}

TEST(JpegIo, TruncatedLargerImageAtManyLengths) {
  const int w = 300, h = 200;
  const auto src = random_image(w, h, 3);
  for (bool progressive : {false, true}) {
    const auto full = encode_jpeg(src.data(), w, h, 85, Subsampling::k420, true, progressive);
    for (size_t len = 2; len < full.size(); len += 97) {
      DecodedJpeg d;
      std::string err;
      EXPECT_EQ(decode_jpeg(full.data(), len, &d, &err), Status::kTruncated) << len;
    }
  }
}

TEST(JpegIo, ByteFlipsNeverCrash) {
  const int w = 40, h = 24;
  const auto src = random_image(w, h, 11);
  std::mt19937 rng(5);
  for (bool progressive : {false, true}) {
    const auto full = encode_jpeg(src.data(), w, h, 70, Subsampling::k420, true, progressive);
    int ok = 0, bad = 0;
    for (size_t pos = 0; pos < full.size(); ++pos) {
      for (uint8_t mask : {uint8_t(0xFF), uint8_t(1u << (rng() % 8))}) {
        auto b = full;
        b[pos] ^= mask;
        DecodedJpeg d;
        std::string err;
        const Status s = decode_jpeg(b.data(), b.size(), &d, &err);
        if (s == Status::kOk) {
          ++ok;
          ASSERT_GT(d.width, 0);
          ASSERT_GT(d.height, 0);
          ASSERT_EQ(d.rgb.size(), size_t(d.width) * d.height * 3);
        } else {
          ++bad;
          EXPECT_TRUE(d.rgb.empty());
          EXPECT_FALSE(err.empty());
        }
      }
    }
    EXPECT_GT(bad, 0);
    EXPECT_GT(ok + bad, 0);
  }
}

TEST(JpegIo, HugeDeclaredDimensionsAreRejected) {
  const int w = 32, h = 16;
  const auto src = smooth_image(w, h);
  const auto jpg = encode_jpeg(src.data(), w, h, 80);
  const size_t sof = find_marker(jpg, 0xC0);
  ASSERT_GT(sof, 0u);
  // SOF0: length(2) precision(1) height(2) width(2)
  auto set_dims = [&](uint16_t hh, uint16_t ww) {
    auto b = jpg;
    b[sof + 3] = uint8_t(hh >> 8);
    b[sof + 4] = uint8_t(hh & 0xFF);
    b[sof + 5] = uint8_t(ww >> 8);
    b[sof + 6] = uint8_t(ww & 0xFF);
    return b;
  };
  DecodedJpeg d;
  EXPECT_EQ(decode(set_dims(65535, 65535), &d), Status::kTooLarge);
  EXPECT_TRUE(d.rgb.empty());
  // Within libjpeg's own 65500 limit, so only our pixel limit can stop it.
  EXPECT_EQ(decode(set_dims(60000, 60000), &d), Status::kTooLarge);
  EXPECT_EQ(decode(set_dims(20000, 20000), &d), Status::kTooLarge);
  Limits small;
  small.max_side = 31;
  EXPECT_EQ(decode(jpg, &d, small), Status::kTooLarge);
  small = Limits{};
  small.max_pixels = w * h - 1;
  EXPECT_EQ(decode(jpg, &d, small), Status::kTooLarge);
  small.max_pixels = w * h;
  EXPECT_EQ(decode(jpg, &d, small), Status::kOk);
  // Zero height (DNL) is corrupt, not a crash.
  EXPECT_NE(decode(set_dims(0, 32), &d), Status::kOk);
}

TEST(JpegIo, ScanLimitStopsProgressiveFiles) {
  const auto src = smooth_image(24, 24);
  const auto jpg = encode_jpeg(src.data(), 24, 24, 80, Subsampling::k420, true, true);
  DecodedJpeg d;
  Limits lim;
  lim.max_scans = 3;  // libjpeg's simple progression uses 10 scans
  EXPECT_EQ(decode(jpg, &d, lim), Status::kCorrupt);
  lim.max_scans = 10;
  EXPECT_EQ(decode(jpg, &d, lim), Status::kOk);
}

TEST(JpegIo, EditedQuantTableIsNotExact) {
  const int w = 48, h = 32;
  const auto src = smooth_image(w, h);
  auto jpg = encode_jpeg(src.data(), w, h, 75, Subsampling::k420, true);
  const size_t dqt = find_marker(jpg, 0xDB);
  ASSERT_GT(dqt, 0u);
  // DQT: length(2) Pq/Tq(1) then 64 zigzag entries; bump the DC quantizer of table 0.
  ASSERT_EQ(jpg[dqt + 2], 0x00);
  jpg[dqt + 3] = uint8_t(jpg[dqt + 3] + 1);
  DecodedJpeg d;
  ASSERT_EQ(decode(jpg, &d), Status::kOk);
  const QualityEstimate e = estimate_quality(d.qt);
  EXPECT_FALSE(e.exact);
  EXPECT_NEAR(e.quality, 75.0, 2.0);
}

TEST(JpegIo, EstimateForNonIjgTables) {
  // Luma table 10% coarser than IJG 75 with a matching-ish chroma table.
  QuantTables qt;
  qt.count = 2;
  qt.defined = {true, true, false, false};
  qt.num_components = 3;
  qt.component_table = {0, 1, 1, -1};
  const auto l75 = ijg_table(75, false);
  for (int k = 0; k < 64; ++k) qt.tables[0][k] = uint16_t(std::lround(l75[k] * 1.1));
  qt.tables[1] = ijg_table(75, true);
  QualityEstimate e = estimate_quality(qt);
  EXPECT_FALSE(e.exact);
  EXPECT_NEAR(e.quality, 72.5, 1.0);  // scale 55 -> quality 72.5

  // Luma and chroma from different qualities: each alone is IJG, together they are not.
  qt.tables[0] = ijg_table(80, false);
  qt.tables[1] = ijg_table(60, true);
  e = estimate_quality(qt);
  EXPECT_FALSE(e.exact);
  EXPECT_NEAR(e.quality, 80.0, 0.5);

  // Flat table: whatever it is, the estimate stays in range.
  qt.tables[0].fill(8);
  qt.tables[1].fill(8);
  e = estimate_quality(qt);
  EXPECT_FALSE(e.exact);
  EXPECT_GE(e.quality, 1.0);
  EXPECT_LE(e.quality, 100.0);

  // Very coarse 16-bit table (no baseline clamp) maps to quality 1 region, clamped.
  for (int k = 0; k < 64; ++k) qt.tables[0][k] = uint16_t(ijg_table(1, false)[k] * 40);
  e = estimate_quality(qt);
  EXPECT_FALSE(e.exact);
  EXPECT_EQ(e.quality, 1.0);

  // No tables at all.
  e = estimate_quality(QuantTables{});
  EXPECT_FALSE(e.exact);
  EXPECT_EQ(e.quality, 0.0);
}

TEST(JpegIo, EstimateWithoutComponentInfoUsesSlotOrder) {
  QuantTables qt;
  qt.count = 2;
  qt.defined = {true, true, false, false};
  qt.tables[0] = ijg_table(42, false);
  qt.tables[1] = ijg_table(42, true);
  const QualityEstimate e = estimate_quality(qt);
  EXPECT_TRUE(e.exact);
  EXPECT_EQ(e.quality, 42.0);
}

TEST(JpegIo, EncodeRejectsBadArguments) {
  const auto src = smooth_image(8, 8);
  EXPECT_THROW(encode_jpeg(src.data(), 8, 8, 0), std::runtime_error);
  EXPECT_THROW(encode_jpeg(src.data(), 8, 8, 101), std::runtime_error);
  EXPECT_THROW(encode_jpeg(src.data(), 0, 8, 50), std::runtime_error);
  EXPECT_THROW(encode_jpeg(nullptr, 8, 8, 50), std::runtime_error);
  EXPECT_THROW(encode_jpeg(src.data(), 70000, 1, 50), std::runtime_error);
  EXPECT_NO_THROW(encode_jpeg(src.data(), 1, 1, 50));
}

}  // namespace
}  // namespace lucid::jpeg
