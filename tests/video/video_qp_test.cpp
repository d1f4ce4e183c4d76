// Per-frame QP and picture type read by VideoReader on clips made with known QPs.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "lucid/video/video_reader.h"
#include "video_test_util.h"

namespace lucid::video {
namespace {

using test::have_encoder;
using test::make_clip;

struct Decoded {
  StreamInfo info;
  std::vector<VideoFrame> frames;
  std::vector<std::string> warnings;
};

Decoded decode(const std::string& path) {
  Decoded d;
  VideoReader r(path);
  d.info = r.info();
  VideoFrame f;
  while (r.read(f)) d.frames.push_back(std::move(f));
  EXPECT_TRUE(r.errors().empty()) << r.errors().front();
  d.warnings = r.warnings();
  return d;
}

std::string types(const Decoded& d) {
  std::string s;
  for (const auto& f : d.frames) s += static_cast<char>(f.pict_type);
  return s;
}

#define REQUIRE_ENCODER(name) \
  if (!have_encoder(name)) GTEST_SKIP() << "ffmpeg has no " name " encoder"

// x265 qp=32 with B-frames and its default ipratio 1.4 / pbratio 1.3: I at 29, P at 32,
// referenced B at 33, non-referenced B at 34; checked frame by frame against x265's own CSV log
// (POC = output index here: one closed GOP).
TEST(VideoQp, HevcX265DefaultOffsetsMatchEncoderLog) {
  REQUIRE_ENCODER("libx265");
  const std::string csv = test::temp_dir() + "/x265_default.csv";
  const auto path = make_clip("x265_default.mp4", "-c:v libx265 -x265-params qp=32:bframes=3:log-level=error:csv=" +
                                                       csv + ":csv-log-level=1");
  const auto d = decode(path);
  EXPECT_EQ(d.info.codec, "hevc");
  EXPECT_EQ(d.info.qp_source, "slice headers");
  ASSERT_EQ(d.frames.size(), 12u);
  const auto log = test::read_x265_csv(csv);
  ASSERT_EQ(log.size(), 12u);
  std::set<char> seen;
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value()) << "frame " << f.index;
    EXPECT_EQ(*f.qp, log.at(static_cast<int>(f.index))) << "frame " << f.index;
    // The parser's slice type travelled with the packet through B-frame reordering.
    EXPECT_EQ(f.stream_pict_type, f.pict_type) << "frame " << f.index;
    const double expected = f.pict_type == PictType::I ? 29 : f.pict_type == PictType::P ? 32 : -1;
    if (expected > 0) {
      EXPECT_EQ(*f.qp, expected) << "frame " << f.index;
    } else {
      EXPECT_TRUE(*f.qp == 33 || *f.qp == 34) << "B frame " << f.index << " qp " << *f.qp;
    }
    seen.insert(static_cast<char>(f.pict_type));
  }
  EXPECT_EQ(seen, (std::set<char>{'I', 'P', 'B'}));
  EXPECT_EQ(types(d), "IBPBBPBBBPBP");
}

// ipratio=1:pbratio=1 makes every frame exactly qp=32.
TEST(VideoQp, HevcX265ExactQpWithBFrames) {
  REQUIRE_ENCODER("libx265");
  const auto d = decode(make_clip("x265_exact.mkv", "-c:v libx265 -x265-params qp=32:bframes=3:ipratio=1:pbratio=1:log-level=error"));
  ASSERT_EQ(d.frames.size(), 12u);
  int b = 0;
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value());
    EXPECT_EQ(*f.qp, 32.0);
    EXPECT_EQ(f.stream_pict_type, f.pict_type);
    b += f.pict_type == PictType::B;
  }
  EXPECT_GT(b, 0);
}

// Annex-B elementary stream, 4 slices per picture, no B-frames (low-delay P).
TEST(VideoQp, HevcAnnexBMultipleSlicesNoBFrames) {
  REQUIRE_ENCODER("libx265");
  const auto d = decode(make_clip("x265_slices.hevc", "-c:v libx265 -x265-params qp=30:bframes=0:slices=4:log-level=error -f hevc"));
  ASSERT_EQ(d.frames.size(), 12u);
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value());
    EXPECT_EQ(*f.qp, f.index == 0 ? 27.0 : 30.0) << "frame " << f.index;
    EXPECT_EQ(f.pict_type, f.index == 0 ? PictType::I : PictType::P);
  }
}

// 10-bit, B-pyramid, weighted bi-prediction, 3 slices, 4 refs, a second I picture (keyint=8),
// AMP/rect/transform skip: every per-frame QP equals x265's CSV log.
TEST(VideoQp, Hevc10BitManyToolsMatchEncoderLog) {
  REQUIRE_ENCODER("libx265");
  const std::string csv = test::temp_dir() + "/x265_tools.csv";
  const auto path = make_clip("x265_tools.mkv", "-pix_fmt yuv420p10le -c:v libx265 -x265-params "
                                                "qp=30:bframes=4:b-pyramid=1:weightb=1:weightp=1:slices=3:ref=4:"
                                                "keyint=8:rect=1:amp=1:tskip=1:log-level=error:csv=" + csv +
                                                ":csv-log-level=1");
  const auto d = decode(path);
  EXPECT_EQ(d.info.bit_depth, 10);
  EXPECT_EQ(d.info.pix_fmt, "yuv420p10le");
  ASSERT_EQ(d.frames.size(), 12u);
  const auto log = test::read_x265_csv(csv);
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value());
    EXPECT_EQ(*f.qp, log.at(static_cast<int>(f.index))) << "frame " << f.index;
    EXPECT_EQ(f.stream_pict_type, f.pict_type) << "frame " << f.index;
  }
  EXPECT_EQ(d.frames[8].pict_type, PictType::I);
  EXPECT_EQ(*d.frames[8].qp, 27.0);
}

// 4:4:4 8-bit and 4:2:2 10-bit (range-extensions profiles: chroma SAO and chroma weight
// tables in the slice header) with weighted prediction, B-frames and 2 slices.
TEST(VideoQp, HevcChromaFormatsMatchEncoderLog) {
  REQUIRE_ENCODER("libx265");
  for (const std::string pf : {"yuv444p", "yuv422p10le"}) {
    const std::string csv = test::temp_dir() + "/x265_" + pf + ".csv";
    const auto d = decode(make_clip("x265_" + pf + ".mkv",
                                    "-pix_fmt " + pf + " -c:v libx265 -x265-params qp=30:bframes=3:weightb=1:"
                                    "weightp=1:slices=2:log-level=error:csv=" + csv + ":csv-log-level=1"));
    EXPECT_EQ(d.info.pix_fmt, pf);
    ASSERT_EQ(d.frames.size(), 12u);
    const auto log = test::read_x265_csv(csv);
    for (const auto& f : d.frames) {
      ASSERT_TRUE(f.qp.has_value());
      EXPECT_EQ(*f.qp, log.at(static_cast<int>(f.index))) << pf << " frame " << f.index;
      EXPECT_EQ(f.stream_pict_type, f.pict_type) << pf << " frame " << f.index;
    }
  }
}

// libaom: --min-q = --max-q = 30 pins every frame (key frames and ARF layers included) to
// qindex 120 (libaom's quantizer_to_qindex: 4*q below 63, 63 -> 255). Low-overhead OBUs in
// Matroska, with hidden alt-ref frames (lag-in-frames default).
TEST(VideoQp, Av1LibaomFixedQindex) {
  REQUIRE_ENCODER("libaom-av1");
  const auto d = decode(make_clip("aom_fixed.mkv", "-c:v libaom-av1 -crf 30 -b:v 0 -qmin 30 -qmax 30 -cpu-used 8"));
  EXPECT_EQ(d.info.codec, "av1");
  EXPECT_EQ(d.info.qp_source, "frame headers");
  ASSERT_EQ(d.frames.size(), 12u);
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value()) << "frame " << f.index;
    EXPECT_EQ(*f.qp, 120.0) << "frame " << f.index;
    EXPECT_EQ(f.stream_pict_type, f.index == 0 ? PictType::I : PictType::P);
  }
}

// libaom tools that change the sequence / frame header before base_q_idx: tiles and tile
// groups (OBU_FRAME_HEADER + OBU_TILE_GROUP), error resilience, no lag, AQ segments, screen
// content with intra block copy, 10 bit, 4:4:4 (profile 1), 4:2:2 (profile 2), no order hints,
// timing info with a decoder model (buffer_removal_time in every frame header).
TEST(VideoQp, Av1LibaomToolSweep) {
  REQUIRE_ENCODER("libaom-av1");
  const char* sweeps[] = {
      "-tile-columns 1 -tile-rows 1 -aom-params num-tile-groups=2",
      "-error-resilience 1",
      "-lag-in-frames 0",
      "-aq-mode 1",
      "-tune-content screen -aom-params enable-intrabc=1",
      "-pix_fmt yuv420p10le",
      "-pix_fmt yuv444p",
      "-pix_fmt yuv422p",
      "-row-mt 1 -tiles 2x2",
      "-aom-params enable-order-hint=0",
      "-aom-params timing-info=model",
      "-aom-params frame-parallel=1:error-resilient=1:enable-ref-frame-mvs=0",
  };
  int k = 0;
  for (const char* opts : sweeps) {
    const auto d = decode(make_clip("aom_sweep" + std::to_string(k++) + ".mkv",
                                    std::string("-c:v libaom-av1 -crf 25 -b:v 0 -qmin 25 -qmax 25 -cpu-used 8 ") + opts,
                                    "-f lavfi -i testsrc2=size=256x192:rate=25 -frames:v 10"));
    ASSERT_EQ(d.frames.size(), 10u) << opts;
    EXPECT_TRUE(d.warnings.empty()) << opts << ": " << d.warnings.front();
    for (const auto& f : d.frames) EXPECT_EQ(f.qp.value_or(-1), 100.0) << opts << " frame " << f.index;
  }
}

// libaom -crf 30 alone: the top layer sits at qindex 120, the key frame and lower layers below.
TEST(VideoQp, Av1LibaomCrfLayersInIvf) {
  REQUIRE_ENCODER("libaom-av1");
  const auto d = decode(make_clip("aom_crf.ivf", "-c:v libaom-av1 -crf 30 -b:v 0 -cpu-used 8"));
  ASSERT_EQ(d.frames.size(), 12u);
  double top = 0;
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value());
    top = std::max(top, *f.qp);
  }
  EXPECT_EQ(top, 120.0);
  EXPECT_LT(*d.frames[0].qp, 120.0);
}

// SVT-AV1 -qp 40 maps to qindex 160 (its quantizer_to_qindex table: 4*qp for qp < 63, 63 ->
// 255). With fixed zero qindex offsets every frame is at 160; by default the key frame and the
// lower temporal layers get lower qindexes and the top layer 160.
TEST(VideoQp, Av1SvtFixedAndLayered) {
  REQUIRE_ENCODER("libsvtav1");
  const auto fixed = decode(make_clip(
      "svt_fixed.mp4", "-c:v libsvtav1 -qp 40 -preset 8 -svtav1-params "
                       "use-fixed-qindex-offsets=1:key-frame-qindex-offset=0:qindex-offsets=0,0,0,0,0,0"));
  ASSERT_EQ(fixed.frames.size(), 12u);
  for (const auto& f : fixed.frames) {
    ASSERT_TRUE(f.qp.has_value());
    EXPECT_EQ(*f.qp, 160.0) << "frame " << f.index;
  }
  const auto layered = decode(make_clip("svt_layered.mp4", "-c:v libsvtav1 -qp 40 -preset 8"));
  ASSERT_EQ(layered.frames.size(), 12u);
  double top = 0;
  for (const auto& f : layered.frames) top = std::max(top, f.qp.value_or(-1));
  EXPECT_EQ(top, 160.0);
  EXPECT_LT(*layered.frames[0].qp, 160.0);
}

// x264 -qp 30: I at 27, P at 30, B at 31 (referenced) or 32; exact 30 with ipratio=pbratio=1.
TEST(VideoQp, H264SideData) {
  REQUIRE_ENCODER("libx264");
  const auto d = decode(make_clip("x264.mp4", "-c:v libx264 -qp 30 -bf 3"));
  EXPECT_EQ(d.info.qp_source, "decoder side data");
  ASSERT_EQ(d.frames.size(), 12u);
  int b = 0;
  for (const auto& f : d.frames) {
    ASSERT_TRUE(f.qp.has_value());
    if (f.pict_type == PictType::I) {
      EXPECT_EQ(*f.qp, 27.0);
    }
    if (f.pict_type == PictType::P) {
      EXPECT_EQ(*f.qp, 30.0);
    }
    if (f.pict_type == PictType::B) {
      EXPECT_TRUE(*f.qp == 31 || *f.qp == 32) << *f.qp;
      ++b;
    }
  }
  EXPECT_GT(b, 0);
  const auto e = decode(make_clip("x264_exact.mkv", "-c:v libx264 -qp 30 -bf 3 -x264-params ipratio=1:pbratio=1"));
  for (const auto& f : e.frames) EXPECT_EQ(f.qp.value_or(-1), 30.0);
}

// libvpx-vp9 with qmin = qmax = 20 (quantizer 0..63) gives base_q_idx 80 on every frame.
TEST(VideoQp, Vp9SideData) {
  REQUIRE_ENCODER("libvpx-vp9");
  const auto d = decode(make_clip("vp9.webm", "-c:v libvpx-vp9 -qmin 20 -qmax 20 -crf 20 -b:v 0 -cpu-used 8"));
  ASSERT_EQ(d.frames.size(), 12u);
  for (const auto& f : d.frames) EXPECT_EQ(f.qp.value_or(-1), 80.0) << "frame " << f.index;
}

// mpeg2video -qscale:v 5 (quantiser_scale_code 5, linear scale): FFmpeg exports quantiser_scale
// = 2 * 5 = 10. FFmpeg 5.1's MPEG-2 decoder attaches no side data to the reference frame it
// returns when flushed at the end, so with B-frames the last frame has no QP.
TEST(VideoQp, Mpeg2SideData) {
  REQUIRE_ENCODER("mpeg2video");
  const auto d = decode(make_clip("m2.mpg", "-c:v mpeg2video -qscale:v 5 -bf 2"));
  ASSERT_EQ(d.frames.size(), 12u);
  EXPECT_EQ(types(d), "IBBPBBPBBPBP");
  for (size_t i = 0; i + 1 < d.frames.size(); ++i) EXPECT_EQ(d.frames[i].qp.value_or(-1), 10.0) << "frame " << i;
  EXPECT_FALSE(d.frames.back().qp.has_value());
}

// Frame-threaded decoding reorders differently inside the decoder; QPs must still match.
TEST(VideoQp, HevcFrameThreadsKeepQpWithItsFrame) {
  REQUIRE_ENCODER("libx265");
  const std::string csv = test::temp_dir() + "/x265_threads.csv";
  const auto path = make_clip("x265_threads.mp4", "-c:v libx265 -x265-params qp=32:bframes=4:b-pyramid=1:log-level=error:csv=" +
                                                       csv + ":csv-log-level=1",
                              "-f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 30");
  const auto log = test::read_x265_csv(csv);
  ReaderOptions o;
  o.threads = 4;
  VideoReader r(path, o);
  VideoFrame f;
  int n = 0;
  while (r.read(f)) {
    ASSERT_TRUE(f.qp.has_value()) << "frame " << f.index;
    EXPECT_EQ(*f.qp, log.at(static_cast<int>(f.index))) << "frame " << f.index;
    EXPECT_EQ(f.stream_pict_type, f.pict_type) << "frame " << f.index;
    ++n;
  }
  EXPECT_EQ(n, 30);
}

TEST(VideoQp, OverrideReplacesEveryFrame) {
  REQUIRE_ENCODER("libx265");
  const auto path = make_clip("x265_override.mkv", "-c:v libx265 -x265-params qp=32:log-level=error");
  ReaderOptions o;
  o.qp_override = 22;
  VideoReader r(path, o);
  EXPECT_EQ(r.info().qp_source, "--qp");
  VideoFrame f;
  int n = 0;
  while (r.read(f)) {
    EXPECT_EQ(f.qp.value_or(-1), 22.0);
    ++n;
  }
  EXPECT_EQ(n, 12);
}

}  // namespace
}  // namespace lucid::video
