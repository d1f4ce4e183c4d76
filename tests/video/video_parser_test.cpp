// The HEVC and AV1 QP parsers on their own (no FFmpeg library): whole elementary streams made by
// the ffmpeg CLI, a low-overhead -> Annex-B conversion, truncation at every byte, garbage.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "lucid/video/qp_parsers.h"
#include "video_test_util.h"

namespace lucid::video {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), {});
}

// An Annex-B elementary stream parsed as one packet gives every picture in decoding order.
TEST(VideoParser, HevcWholeAnnexBStreamInDecodeOrder) {
  if (!test::have_encoder("libx265")) GTEST_SKIP();
  const std::string csv = test::temp_dir() + "/p_x265.csv";
  const auto path = test::make_clip("p_x265.hevc", "-c:v libx265 -x265-params qp=35:bframes=3:slices=2:log-level=error:csv=" +
                                                       csv + ":csv-log-level=1 -f hevc");
  const Bytes es = read_file(path);
  HevcQpParser p;
  const PacketQp q = p.parse_packet(es.data(), es.size());
  EXPECT_EQ(q.error, "");
  ASSERT_EQ(q.pictures.size(), 12u);
  // x265's CSV is in encode (= decode) order: compare in that order.
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  for (const PictureQp& pic : q.pictures) {
    ASSERT_TRUE(std::getline(in, line));
    std::stringstream ss(line);
    std::string enc, type, poc, qp;
    std::getline(ss, enc, ',');
    std::getline(ss, type, ',');
    std::getline(ss, poc, ',');
    std::getline(ss, qp, ',');
    EXPECT_EQ(pic.qp, std::stod(qp)) << line;
    EXPECT_EQ(pic.slices, 2);
    const char t = type.find("I-") != std::string::npos ? 'I' : type.find("P-") != std::string::npos ? 'P' : 'B';
    EXPECT_EQ(static_cast<char>(pic.type), t) << line;
  }
}

std::vector<double> x265_log_in_encode_order(const std::string& csv) {
  std::vector<double> qp;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string field;
    for (int i = 0; i < 4 && std::getline(ss, field, ','); ++i) {
    }
    qp.push_back(std::stod(field));
  }
  return qp;
}

// x265 options that change the parameter sets or the slice header (QP and ref-list lengths
// in the PPS, RPS sets, AUD/SEI/HRD, open GOP with CRA + RASL, IDR every 5 with RADL, temporal
// layers, no SAO, no temporal MVP, constrained intra, AQ): every picture's QP equals x265's log.
TEST(VideoParser, HevcX265OptionSweepMatchesEncoderLog) {
  if (!test::have_encoder("libx265")) GTEST_SKIP();
  const char* sweeps[] = {
      "opt-qp-pps=1:opt-ref-list-length-pps=1:multi-pass-opt-rps=1:repeat-headers=1:aud=1:hrd=1:"
      "vbv-bufsize=1000:vbv-maxrate=1000",
      "open-gop=1:keyint=6:min-keyint=6:bframes=3:radl=0",
      "temporal-layers=1:bframes=3:sao=0:temporal-mvp=0",
      "bframes=2:ref=6:b-intra=1:constrained-intra=1:weightb=1:aq-mode=2:rd=6",
      "keyint=5:bframes=3:radl=2:open-gop=0",
  };
  int k = 0;
  for (const char* opts : sweeps) {
    const std::string name = "sweep" + std::to_string(k++);
    const std::string csv = test::temp_dir() + "/" + name + ".csv";
    const auto path = test::make_clip(name + ".hevc", std::string("-c:v libx265 -x265-params qp=31:") + opts +
                                                          ":log-level=error:csv=" + csv + ":csv-log-level=1 -f hevc",
                                      "-f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 20");
    const Bytes es = read_file(path);
    HevcQpParser p;
    const PacketQp q = p.parse_packet(es.data(), es.size());
    EXPECT_EQ(q.error, "") << opts;
    const std::vector<double> log = x265_log_in_encode_order(csv);
    ASSERT_EQ(q.pictures.size(), 20u) << opts;
    ASSERT_EQ(log.size(), 20u) << opts;
    for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(q.pictures[i].qp, log[i]) << opts << " picture " << i;
  }
}

// Truncating the stream anywhere never crashes and never invents a QP outside 0..51.
TEST(VideoParser, HevcTruncationAtEveryByte) {
  if (!test::have_encoder("libx265")) GTEST_SKIP();
  const Bytes es = read_file(test::make_clip("p_trunc.hevc", "-c:v libx265 -x265-params qp=30:log-level=error -f hevc",
                                             "-f lavfi -i testsrc2=size=64x64:rate=25 -frames:v 3"));
  ASSERT_GT(es.size(), 100u);
  for (size_t n = 0; n <= es.size(); ++n) {
    HevcQpParser p;
    const PacketQp q = p.parse_packet(es.data(), n);
    for (const auto& pic : q.pictures)
      if (pic.slices > 0) {
        EXPECT_TRUE(pic.qp >= 0 && pic.qp <= 51) << n;
      }
  }
}

// Low-overhead OBUs (what MP4/Matroska/IVF carry) -> Annex-B: temporal_unit(size) holding one
// frame_unit(size) of obu_length-prefixed OBUs; both parse to the same pictures.
Bytes leb128(size_t v) {
  Bytes b;
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    if (v) c |= 0x80;
    b.push_back(c);
  } while (v);
  return b;
}

size_t read_leb(const Bytes& d, size_t* pos) {
  size_t v = 0;
  for (int i = 0; i < 8; ++i) {
    const uint8_t c = d.at((*pos)++);
    v |= size_t{c & 0x7fu} << (7 * i);
    if (!(c & 0x80)) break;
  }
  return v;
}

Bytes to_annexb(const Bytes& lo) {
  std::vector<Bytes> units;  // temporal units
  size_t pos = 0;
  while (pos < lo.size()) {
    const size_t start = pos;
    const uint8_t h = lo[pos++];
    if (h & 4) ++pos;
    const size_t sz = read_leb(lo, &pos);
    pos += sz;
    const int type = (h >> 3) & 15;
    if (type == 2 || units.empty()) units.emplace_back();
    const Bytes obu(lo.begin() + static_cast<long>(start), lo.begin() + static_cast<long>(pos));
    const Bytes len = leb128(obu.size());
    units.back().insert(units.back().end(), len.begin(), len.end());
    units.back().insert(units.back().end(), obu.begin(), obu.end());
  }
  Bytes out;
  for (const Bytes& fu : units) {
    const Bytes fl = leb128(fu.size());
    const Bytes tl = leb128(fu.size() + fl.size());
    out.insert(out.end(), tl.begin(), tl.end());
    out.insert(out.end(), fl.begin(), fl.end());
    out.insert(out.end(), fu.begin(), fu.end());
  }
  return out;
}

TEST(VideoParser, Av1LowOverheadAndAnnexB) {
  if (!test::have_encoder("libaom-av1")) GTEST_SKIP();
  const Bytes lo = read_file(test::make_clip("p_aom.obu", "-c:v libaom-av1 -crf 30 -b:v 0 -qmin 30 -qmax 30 -cpu-used 8 -f obu"));
  Av1QpParser p;
  const PacketQp a = p.parse_packet(lo.data(), lo.size());
  EXPECT_EQ(a.error, "");
  int shown = 0, hidden = 0;
  for (const auto& pic : a.pictures) {
    EXPECT_EQ(pic.qp, 120.0);
    (pic.shown || pic.show_existing) ? ++shown : ++hidden;
  }
  EXPECT_EQ(shown, 12);
  const Bytes ab = to_annexb(lo);
  Av1QpParser pb(nullptr, 0, /*annexb=*/true);
  const PacketQp b = pb.parse_packet(ab.data(), ab.size());
  EXPECT_EQ(b.error, "");
  ASSERT_EQ(b.pictures.size(), a.pictures.size());
  for (size_t i = 0; i < a.pictures.size(); ++i) {
    EXPECT_EQ(b.pictures[i].qp, a.pictures[i].qp);
    EXPECT_EQ(b.pictures[i].shown, a.pictures[i].shown);
    EXPECT_EQ(b.pictures[i].show_existing, a.pictures[i].show_existing);
  }
}

// libaom's default GOP codes alt-ref frames hidden (show_frame = 0) and shows them later with
// show_existing_frame: 12 frames out, and every re-shown frame carries its hidden frame's qindex.
TEST(VideoParser, Av1ShowExistingFrameReportsTheShownFramesQp) {
  if (!test::have_encoder("libaom-av1")) GTEST_SKIP();
  const Bytes lo = read_file(test::make_clip("p_aom_arf.obu", "-c:v libaom-av1 -crf 30 -b:v 0 -cpu-used 8 -f obu"));
  Av1QpParser p;
  const PacketQp q = p.parse_packet(lo.data(), lo.size());
  EXPECT_EQ(q.error, "");
  std::vector<double> hidden;
  int out = 0, existing = 0;
  for (const auto& pic : q.pictures) {
    if (!pic.shown && !pic.show_existing) {
      hidden.push_back(pic.qp);
      continue;
    }
    ++out;
    if (pic.show_existing) {
      ++existing;
      EXPECT_NE(std::find(hidden.begin(), hidden.end(), pic.qp), hidden.end()) << pic.qp;
    }
  }
  EXPECT_EQ(out, 12);
  EXPECT_GT(existing, 0);
  EXPECT_FALSE(hidden.empty());
}

TEST(VideoParser, Av1TruncationAtEveryByte) {
  if (!test::have_encoder("libaom-av1")) GTEST_SKIP();
  const Bytes lo = read_file(test::make_clip("p_aom_t.obu", "-c:v libaom-av1 -crf 40 -b:v 0 -cpu-used 8 -f obu",
                                             "-f lavfi -i testsrc2=size=64x64:rate=25 -frames:v 4"));
  for (size_t n = 0; n <= lo.size(); ++n) {
    Av1QpParser p;
    const PacketQp q = p.parse_packet(lo.data(), n);
    for (const auto& pic : q.pictures) EXPECT_TRUE(pic.qp >= 0 && pic.qp <= 255);
  }
}

TEST(VideoParser, GarbageNeverThrows) {
  std::mt19937 rng(7);
  HevcQpParser h;
  Av1QpParser a;
  Av1QpParser ab(nullptr, 0, true);
  for (int i = 0; i < 2000; ++i) {
    Bytes b(rng() % 300);
    for (auto& c : b) c = static_cast<uint8_t>(rng());
    if (i % 3 == 0 && b.size() > 4) b[0] = b[1] = 0, b[2] = 1;  // Annex-B start code
    h.parse_packet(b.data(), b.size());
    a.parse_packet(b.data(), b.size());
    ab.parse_packet(b.data(), b.size());
  }
  EXPECT_TRUE(h.parse_packet(nullptr, 0).pictures.empty());
  const uint8_t bad_hvcc[30] = {1};
  HevcQpParser hb(bad_hvcc, sizeof bad_hvcc);  // lengthSizeMinusOne 0 (1-byte lengths), 0 arrays
  EXPECT_EQ(hb.extradata_error(), "");
}

}  // namespace
}  // namespace lucid::video
