// The video restorer network behind the FrameRestorer seam (restoration/video/net): a tiny
// random-weight model through the streaming pipeline, whole frames and tiles, 8 and 10 bit.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "lucid/models/diqp.h"
#include "lucid/models/weights.h"
#include "lucid/video_restore/diqp_restorer.h"
#include "lucid/video_restore/restore_pipeline.h"
#include "lucid/video_restore/restorer_factory.h"

namespace vr = lucid::video_restore;
namespace lm = lucid::models;

namespace {

std::string tiny_model(const std::string& name, const std::string& arch = "diqp") {
  torch::set_num_threads(1);  // tests run in parallel: no oversubscribed thread pools
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  torch::manual_seed(3);
  lm::Diqp m(lm::DiqpConfig::tiny());
  {
    torch::NoGradGuard ng;
    m->randomize_output(0.02);
    for (auto& p : m->named_parameters())
      if (p.key().find("film") != std::string::npos) p.value().normal_(0, 0.05);
  }
  lm::WeightFile w;
  w.meta["arch"] = arch;
  w.meta["model_id"] = "diqp-tiny-test";
  w.meta["config"] = m->config().serialize();
  lm::export_module(*m, w);
  lm::save_weights(path, w, false);
  return path;
}

// Smooth moving content (a codec-like picture: gradients and edges, not noise).
vr::Frame frame_at(const vr::PlaneFormat& f, int64_t i) {
  vr::Frame fr = vr::Frame::blank(f);
  fr.index = i;
  fr.pts = i;
  fr.qp = 37;
  fr.qp_scale = vr::QpScale::kH26x;
  const int maxv = (1 << f.bit_depth) - 1;
  for (int p = 0; p < 3; ++p) {
    const int w = f.plane_width(p), h = f.plane_height(p);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double v = 0.5 + 0.3 * std::sin(0.21 * (x + 2 * i) + 0.05 * p) * std::cos(0.13 * y) +
                         ((x / 7 + y / 5) % 2 ? 0.1 : -0.1);
        const int q = std::clamp(static_cast<int>(std::lround(v * maxv)), 0, maxv);
        if (f.bytes_per_sample() == 1) {
          fr.planes[p][static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(q);
        } else {
          const uint16_t s = static_cast<uint16_t>(q);
          std::memcpy(&fr.planes[p][(static_cast<size_t>(y) * w + x) * 2], &s, 2);
        }
      }
  }
  return fr;
}

std::vector<vr::Frame> run(vr::FrameRestorer& r, const vr::PlaneFormat& f, int n, int tile) {
  std::vector<vr::Frame> out;
  vr::RestorePipeline p(r, {tile}, [&](const vr::Frame& fr) { out.push_back(fr); });
  for (int i = 0; i < n; ++i) p.push(frame_at(f, i));
  p.finish();
  return out;
}

double mean_abs_diff(const vr::Frame& a, const vr::Frame& b, int plane) {
  const auto& pa = a.planes[plane];
  const auto& pb = b.planes[plane];
  double s = 0;
  if (a.format.bytes_per_sample() == 1) {
    for (size_t i = 0; i < pa.size(); ++i) s += std::abs(int(pa[i]) - int(pb[i]));
    return s / pa.size();
  }
  for (size_t i = 0; i + 1 < pa.size(); i += 2) {
    uint16_t u, v;
    std::memcpy(&u, &pa[i], 2);
    std::memcpy(&v, &pb[i], 2);
    s += std::abs(int(u) - int(v));
  }
  return s / (pa.size() / 2);
}

TEST(VideoNet, RestoresAStreamWholeAndTiledAlike) {
  auto model = std::make_shared<const vr::DiqpModel>(tiny_model("diqp_tiny.lucidw"), "cpu");
  EXPECT_EQ(model->model_id(), "diqp-tiny-test");
  const auto win = model->window();
  EXPECT_EQ(win.behind, 1);
  EXPECT_EQ(win.far_ahead, 4);
  vr::PlaneFormat f;
  f.width = 70;  // not a multiple of 16: padded inside
  f.height = 42;
  vr::DiqpRestorer r(model);
  const auto whole = run(r, f, 7, 0);
  ASSERT_EQ(whole.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(whole[i].index, i);
    const vr::Frame in = frame_at(f, i);
    const double d = mean_abs_diff(whole[i], in, 0);
    EXPECT_GT(d, 0.01) << "frame " << i << ": the random model changes the luma";
    EXPECT_LT(d, 20) << "frame " << i;
  }
  vr::DiqpRestorer again(model);
  const auto twice = run(again, f, 7, 0);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(twice[i].planes, whole[i].planes) << "deterministic";
  // Tiles of 32 with the restorer's overlap: nearly the same picture (the context and the far
  // weight come from the whole frames).
  vr::DiqpRestorer tiled_r(model);
  const auto tiled = run(tiled_r, f, 7, 32);
  ASSERT_EQ(tiled.size(), 7u);
  for (int i = 0; i < 7; ++i)
    for (int p = 0; p < 3; ++p) EXPECT_LT(mean_abs_diff(tiled[i], whole[i], p), 0.5) << "frame " << i;
}

TEST(VideoNet, TenBitAndOtherChromaStayInRange) {
  auto model = std::make_shared<const vr::DiqpModel>(tiny_model("diqp_tiny10.lucidw"), "cpu");
  vr::PlaneFormat f;
  f.width = 48;
  f.height = 32;
  f.bit_depth = 10;
  vr::DiqpRestorer r(model);
  const auto out = run(r, f, 3, 0);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& fr : out)
    for (size_t i = 0; i + 1 < fr.planes[0].size(); i += 2) {
      uint16_t v;
      std::memcpy(&v, &fr.planes[0][i], 2);
      ASSERT_LE(v, 1023);
    }
  EXPECT_GT(mean_abs_diff(out[1], frame_at(f, 1), 0), 0.01);
  // 4:4:4: luma restored, chroma passed through untouched.
  vr::PlaneFormat g;
  g.width = 32;
  g.height = 32;
  g.chroma_shift_w = g.chroma_shift_h = 0;
  vr::DiqpRestorer r444(model);
  const auto o444 = run(r444, g, 2, 0);
  EXPECT_EQ(o444[0].planes[1], frame_at(g, 0).planes[1]);
  EXPECT_GT(mean_abs_diff(o444[0], frame_at(g, 0), 0), 0.01);
}

// One restorer shared by two streams on two threads (as the C API and lucid-video share it):
// each stream gets what it gets alone.
TEST(VideoNet, OneRestorerServesTwoStreamsAtOnce) {
  auto model = std::make_shared<const vr::DiqpModel>(tiny_model("diqp_tiny_mt.lucidw"), "cpu");
  vr::PlaneFormat f1, f2;
  f1.width = 64;
  f1.height = 48;
  f2.width = 80;
  f2.height = 32;
  vr::DiqpRestorer alone(model);
  const auto want1 = run(alone, f1, 6, 32), want2 = run(alone, f2, 6, 0);
  vr::DiqpRestorer shared(model);
  std::vector<vr::Frame> got1, got2;
  std::thread t1([&] { got1 = run(shared, f1, 6, 32); });
  std::thread t2([&] { got2 = run(shared, f2, 6, 0); });
  t1.join();
  t2.join();
  ASSERT_EQ(got1.size(), 6u);
  ASSERT_EQ(got2.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(got1[i].planes, want1[i].planes) << i;
    EXPECT_EQ(got2[i].planes, want2[i].planes) << i;
  }
}

// The factory every front door uses loads the network from a weight file (the committed
// random-weight tests/data/diqp-tiny.lucidw) and finds "default" among the shipped weights.
TEST(VideoNet, TheFactoryMakesTheNetworkRestorer) {
  const std::string tiny = std::string(LUCID_SOURCE_DIR) + "/tests/data/diqp-tiny.lucidw";
  auto m = vr::load_restorer(tiny, "cpu");
  EXPECT_EQ(m->name(), "diqp-tiny");
  EXPECT_EQ(m->window().behind, 1);
  EXPECT_EQ(m->window().far_ahead, 4);
  auto r = m->make_stream_restorer("hevc");
  vr::PlaneFormat f;
  f.width = 40;
  f.height = 24;
  const auto out = run(*r, f, 3, 0);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_GT(mean_abs_diff(out[1], frame_at(f, 1), 0), 0.001);
  try {
    vr::load_restorer("/nonexistent/net.lucidw", "cpu");
    FAIL() << "no error";
  } catch (const vr::RestorerError& e) {
    EXPECT_EQ(e.kind, vr::RestorerError::Kind::kModel);
  }
  // "default" is the shipped network, found like every shipped model.
  auto d = vr::load_restorer(vr::kDefaultRestorer, "cpu");
  EXPECT_EQ(d->name(), "diqp-small");
  EXPECT_EQ(d->window().far_ahead, 12);
}

TEST(VideoNet, RejectsOtherModelsClearly) {
  const std::string path = tiny_model("not_diqp.lucidw", "codiff");
  try {
    vr::DiqpModel m(path, "cpu");
    FAIL() << "loaded a codiff file as a video restorer";
  } catch (const vr::RestorerError& e) {
    EXPECT_EQ(e.kind, vr::RestorerError::Kind::kModel);
    EXPECT_NE(std::string(e.what()).find("not a video restorer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(vr::DiqpModel("/nonexistent/x.lucidw", "cpu"), vr::RestorerError);
}

// The weights' QP gate (meta qp_gate = "LO,HI"): no change at or below LO (the decoded frame
// bit for bit), all of it at or above HI, part of it between; no gate is all of it everywhere.
TEST(VideoNet, QpGateKeepsPartOfTheChange) {
  const std::string plain = tiny_model("diqp_gate_plain.lucidw");
  lm::WeightFile w = lm::load_weights(plain);
  w.meta["qp_gate"] = "0.6,0.8";
  const std::string gated = (std::filesystem::temp_directory_path() / "diqp_gate.lucidw").string();
  lm::save_weights(gated, w, false);
  auto pm = std::make_shared<const vr::DiqpModel>(plain, "cpu");
  auto gm = std::make_shared<const vr::DiqpModel>(gated, "cpu");
  const int h26x = static_cast<int>(vr::QpScale::kH26x), av1 = static_cast<int>(vr::QpScale::kAv1);
  EXPECT_EQ(pm->strength(22, h26x), 1.0);
  EXPECT_EQ(gm->strength(22, h26x), 0.0);  // level 22/51 = 0.43
  EXPECT_NEAR(gm->strength(37, h26x), (37 / 51.0 - 0.6) / 0.2, 1e-12);
  EXPECT_EQ(gm->strength(51, h26x), 1.0);
  EXPECT_EQ(gm->strength(255, av1), 1.0);
  EXPECT_EQ(gm->strength(100, av1), 0.0);  // level 0.39
  EXPECT_EQ(gm->strength(0, static_cast<int>(vr::QpScale::kUnknown)), 0.0);  // no QP: none
  EXPECT_EQ(pm->strength(0, static_cast<int>(vr::QpScale::kUnknown)), 1.0);

  vr::PlaneFormat f;
  f.width = 48;
  f.height = 32;
  auto at_qp = [&](const std::shared_ptr<const vr::DiqpModel>& m, double qp) {
    vr::DiqpRestorer r(m);
    std::vector<vr::Frame> out;
    vr::RestorePipeline p(r, {0}, [&](const vr::Frame& fr) { out.push_back(fr); });
    for (int i = 0; i < 5; ++i) {
      vr::Frame fr = frame_at(f, i);
      fr.qp = qp;
      p.push(std::move(fr));
    }
    p.finish();
    return out;
  };
  const auto g22 = at_qp(gm, 22), p22 = at_qp(pm, 22);
  const auto g37 = at_qp(gm, 37), p37 = at_qp(pm, 37);
  const auto g51 = at_qp(gm, 51), p51 = at_qp(pm, 51);
  for (int i = 0; i < 5; ++i) {
    const vr::Frame in = frame_at(f, i);
    EXPECT_EQ(g22[i].planes, in.planes) << "frame " << i << ": gated off, bit for bit";
    EXPECT_GT(mean_abs_diff(p22[i], in, 0), 0.01) << "frame " << i << ": no gate, a change";
    EXPECT_EQ(g51[i].planes, p51[i].planes) << "frame " << i << ": fully on, the network's frame";
    const double part = mean_abs_diff(g37[i], in, 0), all = mean_abs_diff(p37[i], in, 0);
    EXPECT_GT(part, 0.3 * all) << "frame " << i;
    EXPECT_LT(part, 0.9 * all) << "frame " << i;
  }

  w.meta["qp_gate"] = "0.8,0.6";
  lm::save_weights(gated, w, false);
  try {
    vr::DiqpModel bad(gated, "cpu");
    FAIL() << "accepted a gate with LO > HI";
  } catch (const vr::RestorerError& e) {
    EXPECT_EQ(e.kind, vr::RestorerError::Kind::kModel);
    EXPECT_NE(std::string(e.what()).find("bad qp_gate"), std::string::npos) << e.what();
  }
}

}  // namespace
