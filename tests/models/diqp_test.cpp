// Invariants of the video restorer's network (models/diqp).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <chrono>

#include "lucid/models/diqp.h"

using namespace lucid::models;

namespace {

DiqpImpl::Input make_input(const DiqpConfig& c, int64_t B, int64_t h, int64_t w, uint64_t seed) {
  torch::manual_seed(seed);
  DiqpImpl::Input in;
  in.frames = torch::rand({B, c.frames(), 6, h, w});
  in.far = torch::rand({B, 6, h, w});
  in.far_w = torch::full({B}, 1.0);
  in.level = torch::full({B}, 37.0 / 51);
  in.scale = torch::zeros({B}, torch::kLong);
  in.context = torch::rand({B, 3, 9, 16});
  return in;
}

// The output layer and the FiLM layers start at zero (identity, no conditioning); random values
// in their place stand for a trained model.
void as_if_trained(Diqp& m) {
  torch::NoGradGuard ng;
  m->randomize_output(0.05);
  for (auto& p : m->named_parameters())
    if (p.key().find("film") != std::string::npos) p.value().normal_(0, 0.05);
}

TEST(Diqp, ConfigRoundTripsAndRejectsNonsense) {
  for (const auto& c : {DiqpConfig::small(), DiqpConfig::tiny()}) {
    const DiqpConfig back = DiqpConfig::parse(c.serialize());
    EXPECT_EQ(back.serialize(), c.serialize());
  }
  std::string bad = DiqpConfig::small().serialize();
  bad.replace(bad.find("heads=4"), 7, "heads=5");  // c3 = 96 is not a multiple of 5
  EXPECT_THROW(DiqpConfig::parse(bad), std::invalid_argument);
  EXPECT_THROW(DiqpConfig::by_name("huge"), std::invalid_argument);
}

TEST(Diqp, StartsAsTheIdentity) {
  torch::NoGradGuard ng;
  Diqp m(DiqpConfig::small());
  auto in = make_input(m->config(), 2, 24, 40, 1);  // 48x80 luma: windows partly padded
  const torch::Tensor out = m->forward(in);
  EXPECT_TRUE(torch::equal(out, in.frames.select(1, m->config().behind)));
}

TEST(Diqp, QpAndNeighboursChangeTheResidualAndFarWeightZeroIgnoresTheFarFrame) {
  torch::NoGradGuard ng;
  Diqp m(DiqpConfig::tiny());
  as_if_trained(m);
  auto in = make_input(m->config(), 1, 16, 24, 2);
  const torch::Tensor base = m->forward(in);
  auto other_qp = in;
  other_qp.level = torch::full({1}, 22.0 / 51);
  EXPECT_GT((m->forward(other_qp) - base).abs().max().item<double>(), 1e-6);
  auto other_neighbour = in;
  other_neighbour.frames = in.frames.clone();
  other_neighbour.frames.select(1, 0).fill_(0.5);
  EXPECT_GT((m->forward(other_neighbour) - base).abs().max().item<double>(), 1e-6);
  // With far_w = 0 the far frame's content has no effect at all.
  auto no_far = in;
  no_far.far_w = torch::zeros({1});
  const torch::Tensor a = m->forward(no_far);
  no_far.far = torch::rand({1, 6, 16, 24});
  EXPECT_TRUE(torch::allclose(m->forward(no_far), a, 0, 0));
  // ...while with far_w = 1 it has.
  auto far2 = in;
  far2.far = torch::rand({1, 6, 16, 24});
  EXPECT_GT((m->forward(far2) - base).abs().max().item<double>(), 1e-6);
}

TEST(Diqp, GradientsReachEveryParameter) {
  Diqp m(DiqpConfig::tiny());
  as_if_trained(m);
  auto in = make_input(m->config(), 2, 16, 16, 3);
  const torch::Tensor loss = m->forward(in).square().mean();
  loss.backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

TEST(Diqp, FarWeightFollowsDistanceAndCuts) {
  const DiqpConfig c = DiqpConfig::small();
  const torch::Tensor a = torch::full({8, 8}, 0.4), b = torch::full({8, 8}, 0.42), cut = torch::full({8, 8}, 0.9);
  EXPECT_DOUBLE_EQ(far_weight(c, c.far_ahead, a, b), 1.0);
  EXPECT_DOUBLE_EQ(far_weight(c, c.far_ahead / 2, a, b), 0.5);
  EXPECT_DOUBLE_EQ(far_weight(c, 0, a, a), 0.0);  // clip end: the far frame is the frame itself
  EXPECT_DOUBLE_EQ(far_weight(c, c.far_ahead, a, cut), 0.0);
  const torch::Tensor t = thumbnail(torch::rand({3, 360, 640}), 64);
  EXPECT_EQ(t.size(1), 36);
  EXPECT_EQ(t.size(2), 64);
}

}  // namespace

// Timing, not a check (run with --gtest_also_run_disabled_tests): one 640x360 frame forward and
// one training step at batch 8, crop 128.
TEST(Diqp, DISABLED_Timing) {
  Diqp m(DiqpConfig::small());
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  {
    torch::NoGradGuard ng;
    auto in = make_input(m->config(), 1, 184, 320, 4);  // 640x368 padded
    m->forward(in);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) m->forward(in);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3;
    std::printf("params %lld, 640x368 forward %.3f s (%d threads)\n", static_cast<long long>(n), s, torch::get_num_threads());
  }
  torch::optim::Adam opt(m->parameters(), 1e-4);
  auto in = make_input(m->config(), 8, 64, 64, 5);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    m->forward(in).square().mean().backward();
    opt.step();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 3;
  std::printf("training step batch 8 crop 128: %.3f s\n", s);
}
