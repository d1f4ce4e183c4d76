// Shapes and invariants of the FAT codec's networks.
#include <gtest/gtest.h>

#include <functional>

#include <torch/torch.h>

#include "lucid/models/fat_codec.h"
#include "lucid/models/weights.h"

using namespace lucid::models;

namespace {

int64_t count_params(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(Models, PaperConfigurationHasThePapersSize) {
  FatCodec m(FatConfig::paper());
  const int64_t n = count_params(*m);
  // FAT (ICLR 2024) reports about 70 M parameters.
  EXPECT_GT(n, 55'000'000);
  EXPECT_LT(n, 85'000'000);
  RecordProperty("paper_params", std::to_string(n));
}

TEST(Models, SmallConfigurationShapes) {
  torch::NoGradGuard ng;
  FatCodec m(FatConfig::small());
  const auto& c = m->config();
  torch::Tensor x = torch::rand({2, 3, 128, 192});
  torch::Tensor y = m->analysis(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, c.M, 8, 12}));
  torch::Tensor z = m->hyper_analysis(y);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{2, c.Nz, 2, 3}));
  EXPECT_EQ(m->hyper_synthesis(torch::round(z)).sizes(),
            (std::vector<int64_t>{2, c.hyper_ch, 8, 12}));
  EXPECT_EQ(m->synthesis(y).sizes(), x.sizes());
  auto out = m->forward_train(x, torch::tensor({0.0f, 1.0f}));
  EXPECT_EQ(out.x_hat.sizes(), x.sizes());
  EXPECT_EQ(out.bits_y.sizes(), (std::vector<int64_t>{2}));
  EXPECT_TRUE(torch::isfinite(out.bits_y).all().item<bool>());
}

TEST(Models, GainsAreMonotoneInQualityAtInit) {
  FatCodec m(FatConfig::tiny());
  torch::Tensor g = m->gain(torch::tensor({0.0f, 0.3f, 0.7f, 1.0f})).flatten(1).mean(1);
  for (int i = 1; i < 4; ++i) EXPECT_GT(g[i].item<float>(), g[i - 1].item<float>());
}

TEST(Models, TrainingStepGivesFiniteGradients) {
  FatCodec m(FatConfig::tiny());
  torch::Tensor x = torch::rand({2, 3, 64, 64});
  auto out = m->forward_train(x, torch::tensor({0.2f, 0.9f}));
  torch::Tensor loss = (out.x_hat - x).pow(2).mean() * 100 + (out.bits_y + out.bits_z).mean() / 4096;
  loss.backward();
  for (const auto& p : m->named_parameters()) {
    if (!p.value().grad().defined()) continue;
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

// The frequency-modulated FFN is exactly the plain FFN while its filter is the identity,
// whatever the map size (padding to the patch size included).
TEST(Models, FmffnIdentityFilterIsPlainFfn) {
  torch::NoGradGuard ng;
  Fmffn f(8, 16, 4);
  torch::Tensor x = torch::randn({2, 7, 10, 8});
  auto fc1 = f->named_modules()["fc1"]->as<torch::nn::Linear>();
  auto fc2 = f->named_modules()["fc2"]->as<torch::nn::Linear>();
  torch::Tensor ref = fc2->forward(torch::gelu(fc1->forward(x)));
  EXPECT_LT((f->forward(x) - ref).abs().max().item<float>(), 1e-5);
}

// Padded tokens are masked: attention on a map equals attention on the same map surrounded
// by the window padding it would get anyway (no leakage from zero tokens).
TEST(Models, FdwaHandlesAnyMapSize) {
  torch::NoGradGuard ng;
  std::vector<WindowShape> w = {{2, 2}, {4, 4}, {2, 4}, {4, 2}};
  for (bool shifted : {false, true}) {
    Fdwa a(16, 4, w, shifted);
    for (auto hw : {std::pair{1, 1}, std::pair{3, 5}, std::pair{8, 8}, std::pair{9, 6}}) {
      torch::Tensor x = torch::randn({1, hw.first, hw.second, 16});
      torch::Tensor y = a->forward(x);
      EXPECT_EQ(y.sizes(), x.sizes());
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    }
  }
}

// Widening the rate range keeps every trained anchor where it was (same gain at the same
// lambda), puts the new anchors beyond the ends, and carries the optimizer's moments along.
TEST(Models, GainExtensionKeepsTrainedAnchors) {
  FatConfig narrow = FatConfig::tiny();
  narrow.num_gains = 6;
  narrow.lambda_min = 0.0012;
  narrow.lambda_max = 0.07;
  FatConfig wide = narrow;
  wide.num_gains = 10;
  wide.lambda_min = 0.0001;
  wide.lambda_max = 0.16;
  int below = -1, above = -1;
  ASSERT_TRUE(FatConfig::gain_extension(narrow, wide, &below, &above));
  EXPECT_EQ(below, 3);
  EXPECT_EQ(above, 1);
  FatConfig other = wide;
  other.M = 48;  // a different network is not an extension
  EXPECT_FALSE(FatConfig::gain_extension(narrow, other, &below, &above));
  FatConfig coarse = wide;
  coarse.num_gains = 7;  // other anchor spacing
  EXPECT_FALSE(FatConfig::gain_extension(narrow, coarse, &below, &above));

  torch::manual_seed(4);
  FatCodec m(narrow);
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor x = torch::rand({1, 3, 64, 64});
  auto step = [&] {
    auto out = m->forward_train(x, torch::tensor({0.1f}));
    torch::Tensor loss = (out.x_hat - x).pow(2).mean() * 100 + out.bits_y.mean() / 4096;
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  step();
  torch::Tensor before;
  {
    torch::NoGradGuard ng;
    before = m->gain(torch::tensor({0.0f, 0.4f, 1.0f})).clone();
  }
  m->extend_gains(wide, 3, 1, &opt);
  EXPECT_EQ(m->config().serialize(), wide.serialize());
  {
    torch::NoGradGuard ng;
    // Old anchor i is new anchor i + 3: old q -> new q = (5 q + 3) / 9.
    torch::Tensor after = m->gain(torch::tensor({3.0f / 9, 5.0f / 9, 8.0f / 9}));
    EXPECT_TRUE(torch::allclose(before, after, 1e-5, 1e-6));
    torch::Tensor g = m->gain(torch::tensor({0.0f, 1.0f / 9, 2.0f / 9, 3.0f / 9, 1.0f}))
                          .flatten(1).mean(1);
    for (int i = 1; i < 5; ++i) EXPECT_GT(g[i].item<float>(), g[i - 1].item<float>());
  }
  step();  // the optimizer's state has the new shape
  for (const auto& p : m->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

// More latent channels from the detail branch: a trained model migrates without changing what
// it reconstructs (the branch starts silent and the hyper analysis ignores the new channels),
// and its configuration reads back the same (configurations without detail keep their text).
TEST(Models, LatentExtensionKeepsTheTrainedModel) {
  FatConfig base = FatConfig::tiny();
  FatConfig wide = base;
  wide.M = 2 * base.M;
  wide.detail = base.M;
  wide.slices = 2 * base.slices;
  EXPECT_TRUE(FatConfig::latent_extension(base, wide));
  EXPECT_FALSE(FatConfig::latent_extension(wide, base));
  FatConfig other_slices = wide;
  other_slices.slices = base.slices;  // another slice width
  EXPECT_FALSE(FatConfig::latent_extension(base, other_slices));
  FatConfig other_width = wide;
  other_width.N = 2 * base.N;
  EXPECT_FALSE(FatConfig::latent_extension(base, other_width));
  EXPECT_EQ(base.serialize().find("detail"), std::string::npos);
  EXPECT_EQ(FatConfig::parse(wide.serialize()).serialize(), wide.serialize());
  FatConfig bad = wide;
  bad.detail = bad.M;
  EXPECT_THROW(FatConfig::parse(bad.serialize()), std::invalid_argument);

  torch::manual_seed(5);
  FatCodec old_model(base);
  torch::manual_seed(6);
  FatCodec m(wide);
  m->adopt(*old_model);
  EXPECT_THROW(old_model->adopt(*m), std::invalid_argument);
  torch::NoGradGuard ng;
  torch::Tensor x = torch::rand({1, 3, 64, 64});
  torch::Tensor y_old = old_model->analysis(x), y = m->analysis(x);
  ASSERT_EQ(y.size(1), wide.M);
  EXPECT_TRUE(torch::equal(y.slice(1, 0, base.M), y_old));
  // Whatever the detail channels hold, the reconstruction and the hyper latents are the old ones.
  torch::Tensor y_any = torch::cat({y_old, torch::randn_like(y_old) * 3}, 1);
  EXPECT_LT((m->synthesis(y_any) - old_model->synthesis(y_old)).abs().max().item<float>(), 1e-5);
  EXPECT_LT((m->hyper_analysis(y_any) - old_model->hyper_analysis(y_old)).abs().max().item<float>(),
            1e-5);
  torch::Tensor q = torch::tensor({0.0f, 0.5f, 1.0f});
  EXPECT_TRUE(torch::allclose(m->gain(q).slice(1, 0, base.M), old_model->gain(q)));
  // The first slices' entropy parameters are the old model's too.
  auto hyper = m->hyper_synthesis(torch::round(m->hyper_analysis(y_any)));
  auto s_new = m->tca()->begin(hyper);
  auto s_old = old_model->tca()->begin(hyper);
  for (int k = 0; k < base.slices; ++k) {
    auto a = m->tca()->predict(s_new);
    auto b = old_model->tca()->predict(s_old);
    EXPECT_TRUE(torch::allclose(a.first, b.first, 1e-5, 1e-6)) << k;
    EXPECT_TRUE(torch::allclose(a.second, b.second, 1e-5, 1e-6)) << k;
    torch::Tensor yk = torch::round(y_old.slice(1, k * base.slice_channels(),
                                                (k + 1) * base.slice_channels()));
    m->tca()->commit(s_new, yk);
    old_model->tca()->commit(s_old, yk);
  }
  auto out = m->forward_train(x, torch::tensor({0.7f}));
  EXPECT_TRUE(torch::isfinite(out.bits_y).all().item<bool>());
}

TEST(Models, WeightFileRoundTripAndCorruption) {
  FatCodec m(FatConfig::tiny());
  WeightFile w;
  w.meta["arch"] = "fat";
  w.meta["config"] = FatConfig::tiny().serialize();
  export_module(*m, w);
  auto bytes = serialize_weights(w, /*fp16=*/false);
  WeightFile r = parse_weights(bytes);
  EXPECT_EQ(r.hash, w.hash);
  FatCodec m2(FatConfig::parse(r.get("config")));
  import_module(*m2, r);
  auto p1 = m->parameters(), p2 = m2->parameters();
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::equal(p1[i], p2[i]));
  bytes[bytes.size() / 2] ^= 1;
  EXPECT_THROW(parse_weights(bytes), WeightError);
  // Shape mismatch names the tensor.
  FatCodec other(FatConfig::small());
  try {
    import_module(*other, r);
    FAIL() << "loaded tiny weights into the small model";
  } catch (const WeightError& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
}

// The loaders' contract (load_model_file + build_model): architecture, id and config checked,
// every failure a WeightError that names the file.
TEST(Models, ModelFileContract) {
  const std::string dir = ::testing::TempDir();
  FatCodec m(FatConfig::tiny());
  WeightFile w;
  w.meta["arch"] = "fat";
  w.meta["model_id"] = "fat-test";
  w.meta["config"] = FatConfig::tiny().serialize();
  export_module(*m, w);
  const std::string good = dir + "/contract-good.lucidw";
  save_weights(good, w, /*fp16=*/false);

  const ModelFile f = load_model_file(good, "fat", "an image codec model");
  EXPECT_EQ(f.model_id, "fat-test");
  EXPECT_EQ(f.config, FatConfig::tiny().serialize());
  FatConfig cfg;
  FatCodec loaded = build_model<FatCodec>(f, good, &cfg);
  EXPECT_EQ(cfg.serialize(), FatConfig::tiny().serialize());
  EXPECT_FALSE(loaded->is_training());
  auto p1 = m->parameters(), p2 = loaded->parameters();
  ASSERT_EQ(p1.size(), p2.size());
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::equal(p1[i], p2[i]));

  auto message = [&](const std::function<void()>& call) {
    try {
      call();
    } catch (const WeightError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string other = message([&] { load_model_file(good, "codiff", "a JPEG restorer"); });
  EXPECT_EQ(other, good + ": is a 'fat' model, not a JPEG restorer ('codiff')");

  WeightFile no_id = w;
  no_id.meta.erase("model_id");
  const std::string no_id_path = dir + "/contract-no-id.lucidw";
  save_weights(no_id_path, no_id, false);
  EXPECT_EQ(message([&] { load_model_file(no_id_path, "fat", "an image codec model"); }),
            no_id_path + ": weight file lacks 'model_id'");

  WeightFile bad_cfg = w;
  bad_cfg.meta["config"] = "name=tiny;N=-3";
  const std::string bad_cfg_path = dir + "/contract-bad-config.lucidw";
  save_weights(bad_cfg_path, bad_cfg, false);
  const ModelFile bf = load_model_file(bad_cfg_path, "fat", "an image codec model");
  EXPECT_EQ(message([&] { build_model<FatCodec>(bf, bad_cfg_path, &cfg); })
                .rfind(bad_cfg_path + ": bad configuration: ", 0),
            0u);

  WeightFile small = w;
  small.meta["config"] = FatConfig::small().serialize();  // tensors of tiny, config of small
  const std::string small_path = dir + "/contract-mismatch.lucidw";
  save_weights(small_path, small, false);
  const ModelFile sf = load_model_file(small_path, "fat", "an image codec model");
  const std::string mismatch = message([&] { build_model<FatCodec>(sf, small_path, &cfg); });
  EXPECT_EQ(mismatch.rfind(small_path + ": ", 0), 0u) << mismatch;
  EXPECT_NE(mismatch.find("shape"), std::string::npos) << mismatch;

  EXPECT_NE(message([&] { load_model_file(dir + "/contract-missing.lucidw", "fat", "x"); })
                .find("cannot open weight file"),
            std::string::npos);
}

}  // namespace

namespace {

// Regression: LibTorch 1.13's fused gelu backward is wrong for non-contiguous incoming
// gradients; exact_gelu must give the same gradient whatever the layout.
TEST(Models, ExactGeluGradientIgnoresLayout) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({2, 4, 4, 8}).requires_grad_(true);
  torch::Tensor x2 = x.detach().clone().requires_grad_(true);
  torch::Tensor g = torch::randn({2, 8, 4, 4});
  exact_gelu(x).permute({0, 3, 1, 2}).contiguous().backward(g);
  exact_gelu(x2).backward(g.permute({0, 2, 3, 1}).contiguous());
  EXPECT_TRUE(torch::allclose(x.grad(), x2.grad()));
}

// Two identical training passes give identical gradients (no uninitialised memory is read).
TEST(Models, GradientsAreReproducible) {
  std::vector<std::vector<torch::Tensor>> grads(2);
  for (int r = 0; r < 2; ++r) {
    torch::manual_seed(1);
    FatCodec m(FatConfig::tiny());
    torch::manual_seed(5);
    torch::Tensor x = torch::rand({2, 3, 64, 64});
    auto out = m->forward_train(x, torch::tensor({0.3f, 0.8f}));
    ((out.x_hat - x).pow(2).mean() * 100 + (out.bits_y + out.bits_z).mean() / 4096).backward();
    { auto junk = torch::randn({1 << 20}) * 1e30; }  // dirty the allocator between runs
    for (auto& p : m->parameters())
      grads[r].push_back(p.grad().defined() ? p.grad().clone() : torch::zeros({1}));
  }
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_TRUE(torch::equal(grads[0][i], grads[1][i])) << "parameter " << i;
}

}  // namespace
