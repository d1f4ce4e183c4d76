// restoration/video: the restorer window, edge clamping, bounded memory and tiling.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "lucid/video_restore/restore_pipeline.h"

namespace vr = lucid::video_restore;

namespace {

vr::Frame random_frame(const vr::PlaneFormat& f, int64_t index, uint32_t seed) {
  vr::Frame fr = vr::Frame::blank(f);
  fr.index = index;
  fr.pts = index * 3 + 7;
  fr.qp = 30.0 + index;
  std::mt19937 rng(seed + static_cast<uint32_t>(index));
  const int mask = (1 << f.bit_depth) - 1;
  for (auto& p : fr.planes) {
    if (f.bytes_per_sample() == 1) {
      for (auto& b : p) b = static_cast<uint8_t>(rng());
    } else {
      for (size_t i = 0; i + 1 < p.size(); i += 2) {
        const uint16_t v = static_cast<uint16_t>(rng() & mask);
        std::memcpy(&p[i], &v, 2);
      }
    }
  }
  return fr;
}

// Runs `n` random frames through the pipeline; returns the restored frames.
std::vector<vr::Frame> run(vr::FrameRestorer& r, const vr::PlaneFormat& f, int n, int tile,
                           std::vector<vr::Frame>* inputs = nullptr, vr::RestorePipeline::Wanted wanted = {},
                           size_t* held = nullptr) {
  std::vector<vr::Frame> out;
  vr::RestorePipeline p(r, {tile}, [&](const vr::Frame& fr) { out.push_back(fr); }, wanted);
  for (int i = 0; i < n; ++i) {
    vr::Frame fr = random_frame(f, i, 1234);
    if (inputs) inputs->push_back(fr);
    p.push(std::move(fr));
  }
  p.finish();
  if (held) *held = p.max_frames_held();
  return out;
}

// Records which neighbours each frame saw and checks every tile sees co-located crops.
class RecordingRestorer : public vr::FrameRestorer {
 public:
  explicit RecordingRestorer(vr::TemporalWindow w) : w_(w) {}
  std::string name() const override { return "recording"; }
  vr::TemporalWindow window() const override { return w_; }
  void restore(const vr::RestoreInput& in, vr::Frame& out) override {
    std::vector<int64_t> seen;
    for (auto* f : in.behind) seen.push_back(f->index);
    seen.push_back(in.center->index);
    for (auto* f : in.ahead) seen.push_back(f->index);
    seen.push_back(in.far_ahead ? in.far_ahead->index : -1);
    for (auto* f : in.behind) EXPECT_EQ(f->format, in.center->format);
    seen_.push_back(seen);
    qp_.push_back(in.qp);
    out.planes = in.center->planes;
  }
  std::vector<std::vector<int64_t>> seen_;
  std::vector<double> qp_;

 private:
  vr::TemporalWindow w_;
};

}  // namespace

TEST(VideoPipeline, IdentityIsBitExactWholeFrames) {
  vr::IdentityRestorer id;
  const vr::PlaneFormat f{64, 48, 8, 1, 1};
  std::vector<vr::Frame> in;
  const auto out = run(id, f, 5, 0, &in);
  ASSERT_EQ(out.size(), 5u);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].planes, in[i].planes);
    EXPECT_EQ(out[i].index, in[i].index);
    EXPECT_EQ(out[i].pts, in[i].pts);
    EXPECT_EQ(out[i].qp, in[i].qp);
  }
}

// Tiles with overlap at odd sizes, 4:2:0 / 4:2:2 / 4:4:4, 8 and 10 bit: crop + paste must put
// every sample back where it came from.
TEST(VideoPipeline, TilesAreBitExactWithTheIdentity) {
  const vr::PlaneFormat formats[] = {{101, 67, 8, 1, 1}, {130, 75, 10, 1, 1}, {99, 70, 10, 1, 0}, {77, 41, 8, 0, 0}};
  for (const auto& f : formats) {
    for (int overlap : {0, 6, 16}) {
      for (int tile : {16, 17, 32, 50, 128}) {
        vr::IdentityRestorer id({1, 1, 3}, overlap);
        std::vector<vr::Frame> in;
        const auto out = run(id, f, 4, tile, &in);
        ASSERT_EQ(out.size(), 4u);
        for (size_t i = 0; i < out.size(); ++i)
          EXPECT_EQ(out[i].planes, in[i].planes) << f.width << "x" << f.height << " depth " << f.bit_depth << " shift "
                                                 << f.chroma_shift_w << f.chroma_shift_h << " tile " << tile
                                                 << " overlap " << overlap << " frame " << i;
      }
    }
  }
}

// A restorer that would leak its margin: writes a marker into the outer half of the overlap
// (tile_overlap 8: the outer 4 pixels). Those pixels have weight 0 in the blend, so inside the
// frame every sample is the input's.
TEST(VideoPipeline, OuterHalfOfTheTileMarginIsDiscarded) {
  struct Marker : vr::FrameRestorer {
    std::string name() const override { return "marker"; }
    vr::TemporalWindow window() const override { return {}; }
    int tile_overlap() const override { return 8; }
    void restore(const vr::RestoreInput& in, vr::Frame& out) override {
      out.planes = in.center->planes;
      const int w = out.format.width, h = out.format.height;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          if (x < 4 || y < 4 || x >= w - 4 || y >= h - 4) out.row(0, y)[x] = 255;
    }
  } m;
  const vr::PlaneFormat f{96, 80, 8, 1, 1};
  std::vector<vr::Frame> in;
  const auto out = run(m, f, 1, 32, &in);
  ASSERT_EQ(out.size(), 1u);
  for (int y = 4; y < 76; ++y)
    for (int x = 4; x < 92; ++x) ASSERT_EQ(out[0].row(0, y)[x], in[0].row(0, y)[x]) << x << "," << y;
}

// Tiles whose outputs disagree (each paints its own flat value): across every tile boundary the
// output ramps from one value to the other over the blend band (2 * overlap / 2 = 16 pixels),
// never a hard seam; away from the boundaries each tile's value is kept.
TEST(VideoPipeline, TileSeamsAreBlended) {
  struct Flat : vr::FrameRestorer {
    std::string name() const override { return "flat"; }
    vr::TemporalWindow window() const override { return {}; }
    int tile_overlap() const override { return 16; }
    void restore(const vr::RestoreInput& in, vr::Frame& out) override {
      const int v = ((in.tile.x + in.tile.y) / 16) % 2 ? 200 : 40;  // checkerboard of tiles
      for (auto& p : out.planes) std::fill(p.begin(), p.end(), static_cast<uint8_t>(v));
    }
  } m;
  const vr::PlaneFormat f{128, 96, 8, 1, 1};
  const auto out = run(m, f, 1, 32);
  ASSERT_EQ(out.size(), 1u);
  int max_step = 0;
  for (int y = 0; y < 96; ++y)
    for (int x = 1; x < 128; ++x)
      max_step = std::max(max_step, std::abs(int(out[0].row(0, y)[x]) - int(out[0].row(0, y)[x - 1])));
  EXPECT_LE(max_step, 160 / 16 + 1);  // a 160 step spread over 16 pixels
  EXPECT_GT(max_step, 0);
  // The centre of the first tile keeps its own value.
  EXPECT_EQ(out[0].row(0, 12)[12], 40);
}

TEST(VideoPipeline, WindowIsClampedAtTheClipEnds) {
  RecordingRestorer r({2, 1, 4});
  const vr::PlaneFormat f{16, 16, 8, 1, 1};
  size_t held = 0;
  run(r, f, 6, 0, nullptr, {}, &held);
  ASSERT_EQ(r.seen_.size(), 6u);
  // behind (nearest first), center, ahead, far
  const std::vector<std::vector<int64_t>> want = {{0, 0, 0, 1, 4}, {0, 0, 1, 2, 5}, {1, 0, 2, 3, 5},
                                                  {2, 1, 3, 4, 5}, {3, 2, 4, 5, 5}, {4, 3, 5, 5, 5}};
  EXPECT_EQ(r.seen_, want);
  EXPECT_EQ(r.qp_[3], 33.0);
  EXPECT_LE(held, 2u + 1 + 4);
}

TEST(VideoPipeline, MemoryDoesNotGrowWithTheClip) {
  vr::IdentityRestorer id({2, 1, 8});
  const vr::PlaneFormat f{8, 8, 8, 1, 1};
  size_t held = 0;
  const auto out = run(id, f, 400, 0, nullptr, {}, &held);
  EXPECT_EQ(out.size(), 400u);
  EXPECT_EQ(held, static_cast<size_t>(id.window().frames_held()));
}

TEST(VideoPipeline, UnwantedFramesFeedTheWindowButAreNotRestored) {
  RecordingRestorer r({1, 1, 0});
  const vr::PlaneFormat f{16, 16, 8, 1, 1};
  const auto out = run(r, f, 8, 0, nullptr, [](int64_t i) { return i >= 3 && i < 5; });
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].index, 3);
  EXPECT_EQ(out[1].index, 4);
  ASSERT_EQ(r.seen_.size(), 2u);
  EXPECT_EQ(r.seen_[0], (std::vector<int64_t>{2, 3, 4, -1}));
}

TEST(VideoPipeline, RefusesGapsAndFormatChanges) {
  vr::IdentityRestorer id;
  vr::RestorePipeline p(id, {}, [](const vr::Frame&) {});
  p.push(random_frame({16, 16, 8, 1, 1}, 0, 1));
  EXPECT_THROW(p.push(random_frame({16, 16, 8, 1, 1}, 2, 1)), std::invalid_argument);
  EXPECT_THROW(p.push(random_frame({32, 16, 8, 1, 1}, 1, 1)), std::invalid_argument);
}

// The one restorer factory (restorer_factory.h): what each front door gets for a --model /
// weights_path.
#include "lucid/video_restore/restorer_factory.h"

namespace {

TEST(RestorerFactory, IdentityByNameOrEmptyAndWindowedIdentity) {
  for (const std::string name : {"", "identity"}) {
    auto r = vr::make_restorer(name, "cpu");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->name(), "identity");
    EXPECT_EQ(r->window().frames_held(), 1);
    // Pass-through, bit for bit.
    const vr::Frame in = random_frame(vr::PlaneFormat{17, 9, 10, 1, 1}, 0, 5);
    vr::Frame out = vr::Frame::blank(in.format);
    vr::RestoreInput ri;
    ri.center = &in;
    r->restore(ri, out);
    EXPECT_EQ(out.planes, in.planes);
  }
  auto w = vr::make_restorer("identity:1,2,8", "cuda:1");  // the identity ignores the device
  EXPECT_EQ(w->window().behind, 1);
  EXPECT_EQ(w->window().ahead, 2);
  EXPECT_EQ(w->window().far_ahead, 8);
  EXPECT_EQ(w->window().frames_held(), 10);
}

TEST(RestorerFactory, OneModelMakesARestorerPerStream) {
  // What a C API model handle or a lucid-video run holds: loaded once, then one restorer per
  // stream (a network keeps per-stream state), each with the model's window.
  const auto model = vr::load_restorer("identity:2,1,0", "cpu");
  EXPECT_EQ(model->name(), "identity");
  EXPECT_EQ(model->window().frames_held(), 4);
  auto a = model->make_stream_restorer("hevc"), b = model->make_stream_restorer("av1");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(a->window().behind, 2);
  EXPECT_EQ(b->window().ahead, 1);
  // Through a pipeline: the window holds frames back; every frame comes out, in order.
  std::vector<int64_t> seen;
  vr::RestorePipeline pipe(*a, {}, [&](const vr::Frame& f) { seen.push_back(f.index); });
  for (int i = 0; i < 5; ++i) pipe.push(random_frame(vr::PlaneFormat{16, 8, 8, 1, 1}, i, 3));
  EXPECT_EQ(seen.size(), 4u);
  pipe.finish();
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(RestorerFactory, AnythingElseIsAClearError) {
  try {
    vr::make_restorer("/models/video-net.lucidw", "cpu");
    FAIL() << "no error";
  } catch (const vr::RestorerError& e) {
    EXPECT_EQ(e.kind, vr::RestorerError::Kind::kModel);
    EXPECT_NE(std::string(e.what()).find("cannot open weight file"), std::string::npos) << e.what();
  }
  for (const std::string bad : {"identity:", "identity:1,2", "identity:1,2,3,4", "identity:a,b,c", "identity:1,2,65",
                                "identity:-1,0,0", "Identity"})
    EXPECT_THROW(vr::make_restorer(bad, "cpu"), vr::RestorerError) << bad;
  for (const std::string dev : {"gpu", "cuda:", "cuda:x", "CPU", ""}) {
    try {
      vr::make_restorer("identity", dev);
      FAIL() << dev;
    } catch (const vr::RestorerError& e) {
      EXPECT_EQ(e.kind, vr::RestorerError::Kind::kDevice) << dev;
    }
  }
}

}  // namespace
