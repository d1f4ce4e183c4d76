// The fixed-order entropy-parameter path (codec/src/exact_params.h, format version 2):
//  - its elementwise functions against the C library's double-precision ones;
//  - the same bits from every matrix kernel (scalar, SSE, AVX2) and thread count;
//  - agreement with the LibTorch path it replaces, on the random-weight tiny model and the
//    shipped one, so that the models' rate and quality do not change;
//  - streams of format version 1 (the LibTorch path) still decode.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "exact_params.h"
#include "lucid/models/fat_codec.h"
#include "lucid/models/weights.h"
#ifdef LUCID_TEST_HAVE_IMAGE_IO
#include "lucid/media/image_io.h"
#endif

namespace exact = lucid::codec::exact;
namespace models = lucid::models;

namespace {

// Distance in float ulps (0 for equal values, NaN == NaN).
int64_t ulps(float a, float b) {
  if (a == b || (a != a && b != b)) return 0;
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  auto key = [](int32_t i) { return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i}; };
  return std::llabs(key(ia) - key(ib));
}

// Samples of [lo, hi]: a uniform spread and every float near zero and near the ends of the
// approximation pieces.
std::vector<float> samples(float lo, float hi, int n) {
  std::vector<float> v;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int i = 0; i < n; ++i) v.push_back(u(rng));
  for (float c : {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 0.02f, 10.0f, 20.0f}) {
    for (float s : {c, -c}) {
      float x = s;
      for (int k = 0; k < 200; ++k) x = std::nextafter(x, 1e30f);
      for (int k = 0; k < 400; ++k) {
        x = std::nextafter(x, -1e30f);
        if (x >= lo && x <= hi) v.push_back(x);
      }
    }
  }
  for (float e = 1e-38f; e < 1.0f; e *= 1.7f) v.insert(v.end(), {e, -e});
  return v;
}

template <class F, class R>
void expect_within_one_ulp(const char* name, F f, R ref, float lo, float hi) {
  int64_t worst = 0;
  float at = 0;
  for (float x : samples(lo, hi, 400000)) {
    const int64_t u = ulps(f(x), static_cast<float>(ref(static_cast<double>(x))));
    if (u > worst) worst = u, at = x;
  }
  EXPECT_LE(worst, 1) << name << " is " << worst << " ulps off at " << at;
}

TEST(ExactMath, FunctionsAreWithinOneUlp) {
  expect_within_one_ulp("erf", exact::erf_f, [](double x) { return std::erf(x); }, -6, 6);
  expect_within_one_ulp("exp", exact::exp_f, [](double x) { return std::exp(x); }, -104, 89);
  expect_within_one_ulp("tanh", exact::tanh_f, [](double x) { return std::tanh(x); }, -12, 12);
  expect_within_one_ulp(
      "softplus", exact::softplus_f,
      [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); }, -100, 40);
  // GELU is exact_gelu's float formula around erf: the result of 1 + erf cancels for negative
  // x (as in LibTorch), so it is checked against that formula with the C library's erf.
  for (float x : samples(-12, 12, 200000)) {
    const float ref = x * 0.5f * (1.0f + static_cast<float>(std::erf(x * 0.70710677f)));
    const float got = exact::gelu_f(x);
    ASSERT_LE(std::fabs(got - ref), 1e-6f * std::fabs(ref) + 6e-8f * std::fabs(x)) << x;
  }
  // Every kernel's GELU over arrays (AVX2 has its own code) is gelu_f, bit for bit.
  std::vector<float> xs = samples(-12, 12, 200000);
  xs.insert(xs.end(), {NAN, -NAN, INFINITY, -INFINITY, 1e-45f, -1e-45f, 0.0f, -0.0f, 5.65685f});
  for (exact::Kernel k : {exact::Kernel::kScalar, exact::Kernel::kSse, exact::Kernel::kAvx2}) {
    if (!exact::use_kernel(k)) continue;
    std::vector<float> v = xs;
    exact::gelu_inplace(v.data(), v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const float ref = exact::gelu_f(xs[i]);
      ASSERT_TRUE(std::memcmp(&v[i], &ref, 4) == 0 || (v[i] != v[i] && ref != ref))
          << "kernel " << static_cast<int>(k) << " x " << xs[i];
    }
  }
  exact::use_kernel(exact::Kernel::kAuto);
  EXPECT_TRUE(std::isnan(exact::erf_f(NAN)) && std::isnan(exact::tanh_f(NAN)) &&
              std::isnan(exact::exp_f(NAN)) && std::isnan(exact::softplus_f(NAN)));
  EXPECT_EQ(exact::erf_f(INFINITY), 1.0f);
  EXPECT_EQ(exact::tanh_f(-INFINITY), -1.0f);
  EXPECT_EQ(exact::exp_f(-INFINITY), 0.0f);
  EXPECT_EQ(exact::softplus_f(25.0f), 25.0f);  // torch's threshold
  EXPECT_EQ(exact::grid_code(1.5f / 64), 2);    // round half to even
  EXPECT_EQ(exact::grid_code(2.5f / 64), 2);
  EXPECT_EQ(exact::grid_code(-0.5f / 64), 0);
  EXPECT_EQ(exact::grid_code(NAN), INT32_MIN);
  EXPECT_EQ(exact::grid_code(1e30f), INT32_MIN);
}

struct Loaded {
  models::FatConfig cfg;
  models::FatCodec model{nullptr};
  exact::Model exact;
};

// As ImageCodec's loader: the h_s and tca parameters and the prior's medians.
Loaded load(const std::string& path) {
  Loaded l;
  models::WeightFile w = models::load_weights(path);
  l.cfg = models::FatConfig::parse(w.get("config"));
  l.model = models::FatCodec(l.cfg);
  models::import_module(*l.model, w);
  l.model->eval();
  std::map<std::string, exact::Param> params;
  for (const auto& kv : l.model->named_parameters()) {
    const torch::Tensor t = kv.value().detach().to(torch::kFloat).contiguous();
    exact::Param p;
    p.shape.assign(t.sizes().begin(), t.sizes().end());
    p.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    params.emplace(kv.key(), std::move(p));
  }
  const torch::Tensor med = l.model->prior()->medians().detach().contiguous();
  l.exact = exact::model_from_parameters(
      params, std::vector<float>(med.data_ptr<float>(), med.data_ptr<float>() + med.numel()),
      l.cfg.slices, l.cfg.tca_heads, l.cfg.tca_layers);
  return l;
}

bool have_shipped() { return std::filesystem::exists(lucid::test::default_model()); }

TEST(ExactModel, LoaderRefusesMisshapenParameters) {
  Loaded l = load(lucid::test::tiny_model());
  std::map<std::string, exact::Param> params;
  for (const auto& kv : l.model->named_parameters()) {
    const torch::Tensor t = kv.value().detach().contiguous();
    params[kv.key()] = {std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
                        std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel())};
  }
  const std::vector<float> med(l.cfg.Nz, 0.0f);
  EXPECT_NO_THROW(exact::model_from_parameters(params, med, l.cfg.slices, l.cfg.tca_heads,
                                               l.cfg.tca_layers));
  auto broken = params;
  broken.erase("tca.lrp2.bias");
  EXPECT_THROW(exact::model_from_parameters(broken, med, l.cfg.slices, l.cfg.tca_heads,
                                            l.cfg.tca_layers),
               std::invalid_argument);
  broken = params;
  broken["tca.qkv.0.weight"].data.pop_back();
  EXPECT_THROW(exact::model_from_parameters(broken, med, l.cfg.slices, l.cfg.tca_heads,
                                            l.cfg.tca_layers),
               std::invalid_argument);
  EXPECT_THROW(exact::model_from_parameters(params, std::vector<float>(l.cfg.Nz + 1, 0.0f),
                                            l.cfg.slices, l.cfg.tca_heads, l.cfg.tca_layers),
               std::invalid_argument);
  EXPECT_THROW(exact::model_from_parameters(params, med, l.cfg.slices, 3, l.cfg.tca_layers),
               std::invalid_argument);  // 3 heads do not divide the token width
}

// FNV-1a over every output of a whole image's path: means, scales and refined slices.
uint64_t run_hash(const exact::Model& m, int zh, int zw, int threads, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> z(-4, 4), sym(-6, 6);
  std::vector<int32_t> zs(m.z_median.size() * zh * zw);
  for (auto& v : zs) v = z(rng);
  exact::Session st(m, zs.data(), zh, zw, threads);
  const size_t n = static_cast<size_t>(st.positions()) * m.slice_channels;
  std::vector<float> mean(n), scale(n), refined(n);
  std::vector<int32_t> s(n);
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](const std::vector<float>& v) {
    for (float x : v) {
      uint32_t b;
      std::memcpy(&b, &x, 4);
      h = (h ^ b) * 1099511628211ULL;
    }
  };
  for (int k = 0; k < m.slices; ++k) {
    st.predict(mean.data(), scale.data());
    for (auto& v : s) v = sym(rng);
    st.commit(s.data(), refined.data());
    mix(mean);
    mix(scale);
    mix(refined);
  }
  return h;
}

// Every element is one fixed-order sum: the vector width (scalar, 4 or 8 lanes) and the
// thread split change nothing.
TEST(ExactKernels, SameBitsForEveryKernelAndThreadCount) {
  std::vector<std::string> paths = {lucid::test::tiny_model()};
  if (have_shipped()) paths.push_back(lucid::test::default_model());
  for (const auto& path : paths) {
    const Loaded l = load(path);
    // An odd size: row tiles and thread parts end mid-row, tiny's widths need the narrow tile.
    const int zh = 3, zw = 5;
    ASSERT_TRUE(exact::use_kernel(exact::Kernel::kScalar));
    const uint64_t ref = run_hash(l.exact, zh, zw, 1, 1);
    for (exact::Kernel k : {exact::Kernel::kSse, exact::Kernel::kAvx2}) {
      if (!exact::use_kernel(k)) continue;  // no AVX2 on this CPU
      EXPECT_EQ(run_hash(l.exact, zh, zw, 1, 1), ref) << path << " kernel " << int(k);
    }
    exact::use_kernel(exact::Kernel::kAuto);
    for (int threads : {2, 3, 7})
      EXPECT_EQ(run_hash(l.exact, zh, zw, threads, 1), ref) << path << " threads " << threads;
  }
}

// x [1, 3, H, W] in [0, 1] from interleaved RGB.
torch::Tensor to_tensor(const std::vector<uint8_t>& rgb, int w, int h) {
  return torch::from_blob(const_cast<uint8_t*>(rgb.data()), {h, w, 3}, torch::kUInt8)
      .permute({2, 0, 1})
      .unsqueeze(0)
      .to(torch::kFloat)
      .div(255.0);
}

struct Agreement {
  double max_rel_mean = 0, max_rel_scale = 0;  // |exact - torch| / max(|torch|, 1)
  size_t elements = 0, grid_mean_differs = 0, refined_differs = 0;
};

// Codes the latents y_base (the analysis of an image) at quality q through both paths and
// compares their parameters and refined latents. Both see the same inputs: symbols from the
// exact path's means, and the exact path's refined slices as the next slice's context (so that
// one differing element does not spread through the slices that follow).
void compare_paths(Loaded& l, const torch::Tensor& y_base, double q, Agreement* a) {
  torch::NoGradGuard ng;
  const torch::Tensor y = (y_base * l.model->gain(torch::full({1}, q))).contiguous();
  const torch::Tensor med = l.model->prior()->medians().view({1, -1, 1, 1});
  const torch::Tensor z_sym = torch::round(l.model->hyper_analysis(y) - med).contiguous();
  std::vector<int32_t> zi(z_sym.numel());
  for (size_t i = 0; i < zi.size(); ++i) zi[i] = static_cast<int32_t>(z_sym.data_ptr<float>()[i]);
  exact::Session st(l.exact, zi.data(), z_sym.size(2), z_sym.size(3), 2);
  auto state = l.model->tca()->begin(l.model->hyper_synthesis(z_sym + med));
  const int S = l.cfg.slice_channels();
  const int64_t H = y.size(2), W = y.size(3);
  const size_t n = static_cast<size_t>(S) * H * W;
  ASSERT_EQ(static_cast<size_t>(st.positions()) * S, n);
  std::vector<float> mean(n), scale(n), raw(n), refined(n);
  std::vector<int32_t> sym(n);
  for (int k = 0; k < l.cfg.slices; ++k) {
    st.predict(mean.data(), scale.data(), raw.data());
    auto [tm, ts] = l.model->tca()->predict(state);
    const torch::Tensor tmc = tm.contiguous(), tsc = ts.contiguous();
    const float* tmean = tmc.data_ptr<float>();
    const float* tscale = tsc.data_ptr<float>();
    const float* yk = y.data_ptr<float>() + k * n;
    for (size_t i = 0; i < n; ++i) {
      a->max_rel_mean = std::max<double>(a->max_rel_mean, std::fabs(raw[i] - tmean[i]) /
                                                              std::max(1.0f, std::fabs(tmean[i])));
      a->max_rel_scale = std::max<double>(
          a->max_rel_scale, std::fabs(scale[i] - tscale[i]) / std::max(1.0f, tscale[i]));
      a->grid_mean_differs += mean[i] != std::nearbyint(tmean[i] * 64.0f) / 64.0f;
      sym[i] = static_cast<int32_t>(std::nearbyint(yk[i] - mean[i]));
    }
    st.commit(sym.data(), refined.data());
    const torch::Tensor y_hat =
        torch::from_blob(sym.data(), {1, S, H, W}, torch::kInt32).to(torch::kFloat) +
        torch::from_blob(mean.data(), {1, S, H, W}, torch::kFloat);
    const torch::Tensor tref = l.model->tca()->commit(state, y_hat, 64).contiguous();
    for (size_t i = 0; i < n; ++i) a->refined_differs += refined[i] != tref.data_ptr<float>()[i];
    state.decoded.back() = torch::from_blob(refined.data(), {1, S, H, W}, torch::kFloat).clone();
    a->elements += n;
  }
}

void check_agreement(const std::string& path, const std::vector<torch::Tensor>& images) {
  // One LibTorch thread, as ImageCodec runs this path (idle OpenMP workers spin on the cores
  // the exact path's threads need).
  torch::set_num_threads(1);
  Loaded l = load(path);
  Agreement a;
  for (const auto& x : images) {
    const torch::Tensor y_base = l.model->analysis(x);
    for (double q : {0.05, 0.5, 0.95}) compare_paths(l, y_base, q, &a);
  }
  std::printf("%s: %zu elements, max relative difference: means %.3g, scales %.3g; grid means "
              "differ on %zu, refined latents on %zu\n",
              path.c_str(), a.elements, a.max_rel_mean, a.max_rel_scale, a.grid_mean_differs,
              a.refined_differs);
  EXPECT_LT(a.max_rel_mean, 1e-4);
  EXPECT_LT(a.max_rel_scale, 1e-4);
  EXPECT_LT(a.grid_mean_differs, a.elements / 1000);  // > 99.9% identical
  EXPECT_LT(a.refined_differs, a.elements / 1000);
}

std::vector<torch::Tensor> test_images() {
  std::vector<torch::Tensor> v;
  v.push_back(to_tensor(lucid::test::synthetic_image(256, 192, 4), 256, 192));
#ifdef LUCID_TEST_HAVE_IMAGE_IO
  const lucid::media::Image img = lucid::media::read_image(LUCID_SOURCE_DIR "/tests/data/sample.png");
  v.push_back(to_tensor(img.rgb, img.width, img.height).slice(2, 64, 384).slice(3, 0, 448));
#endif
  return v;
}

TEST(ExactVsTorch, TinyModelAgrees) {
  torch::NoGradGuard ng;
  check_agreement(lucid::test::tiny_model(), test_images());
}

TEST(ExactVsTorch, ShippedModelAgrees) {
  if (!have_shipped()) GTEST_SKIP() << "no shipped model";
  torch::NoGradGuard ng;
  check_agreement(lucid::test::default_model(), test_images());
}

// ImageCodec writes version 2 by default, version 1 (the LibTorch path) with
// LUCID_STREAM_VERSION=1, and decodes both; a version-2 stream does not depend on the exact
// path's kernel.
TEST(ExactStreams, BothVersionsDecode) {
  using namespace lucid::test;
  const uint32_t w = 150, h = 100;
  const auto img = synthetic_image(w, h, 21);
  ContextPtr v2(tiny_model());
  ASSERT_TRUE(v2.get());
  ::setenv("LUCID_STREAM_VERSION", "1", 1);
  ContextPtr v1(tiny_model());
  ::unsetenv("LUCID_STREAM_VERSION");
  ASSERT_TRUE(v1.get());
  for (float q : {5.0f, 50.0f, 95.0f}) {
    const auto s1 = encode(v1.get(), img, w, h, q), s2 = encode(v2.get(), img, w, h, q);
    ASSERT_FALSE(s1.empty());
    ASSERT_FALSE(s2.empty());
    EXPECT_EQ(s1[4], 1);
    EXPECT_EQ(s2[4], 2);
    std::vector<uint8_t> d1, d2;
    uint32_t ow, oh;
    ASSERT_EQ(decode(v2.get(), s1, &d1, &ow, &oh), LUCID_OK) << lucid_last_error(v2.get());
    ASSERT_EQ(decode(v1.get(), s2, &d2, &ow, &oh), LUCID_OK) << lucid_last_error(v1.get());
    // Same analysis, nearly the same parameters: nearly the same rate.
    EXPECT_NEAR(static_cast<double>(s2.size()) / s1.size(), 1.0, 0.02) << "q " << q;
    for (exact::Kernel k : {exact::Kernel::kScalar, exact::Kernel::kSse, exact::Kernel::kAvx2}) {
      if (!exact::use_kernel(k)) continue;
      EXPECT_EQ(encode(v2.get(), img, w, h, q), s2) << "kernel " << static_cast<int>(k);
      std::vector<uint8_t> d;
      ASSERT_EQ(decode(v2.get(), s2, &d, &ow, &oh), LUCID_OK);
    }
    exact::use_kernel(exact::Kernel::kAuto);
  }
}

// Speed of the two paths on one image's latents (not run by default):
//   exact_params_test --gtest_also_run_disabled_tests --gtest_filter='*Speed*'
// LUCID_BENCH_IMAGE=file.png picks the image (default: a 768x512 synthetic one). Prints the
// best of 3 runs, wall time and process CPU time: the LibTorch path on one thread (as format
// version 1 ran it), the exact path on 1 and 2 threads.
TEST(ExactBench, DISABLED_Speed) {
  if (!have_shipped()) GTEST_SKIP() << "no shipped model";
  torch::NoGradGuard ng;
  torch::set_num_threads(1);
  Loaded l = load(lucid::test::default_model());
  torch::Tensor x;
#ifdef LUCID_TEST_HAVE_IMAGE_IO
  if (const char* f = std::getenv("LUCID_BENCH_IMAGE")) {
    const lucid::media::Image img = lucid::media::read_image(f);
    x = to_tensor(img.rgb, img.width, img.height);
    x = x.slice(2, 0, x.size(2) / 64 * 64).slice(3, 0, x.size(3) / 64 * 64);
  }
#endif
  if (!x.defined()) x = to_tensor(lucid::test::synthetic_image(768, 512, 3), 768, 512);
  const torch::Tensor y =
      (l.model->analysis(x) * l.model->gain(torch::full({1}, 0.5))).contiguous();
  const torch::Tensor med = l.model->prior()->medians().view({1, -1, 1, 1});
  const torch::Tensor z_sym = torch::round(l.model->hyper_analysis(y) - med).contiguous();
  std::vector<int32_t> zi(z_sym.numel());
  for (size_t i = 0; i < zi.size(); ++i) zi[i] = static_cast<int32_t>(z_sym.data_ptr<float>()[i]);
  const int S = l.cfg.slice_channels();
  const int64_t H = y.size(2), W = y.size(3);
  const size_t n = static_cast<size_t>(S) * H * W;
  struct Time {
    double wall = 1e30, cpu = 1e30;
  };
  auto seconds = [](auto&& fn) {
    Time best;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      fn();
      best.cpu = std::min(best.cpu, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
      best.wall = std::min(
          best.wall,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  const Time t_torch = seconds([&] {
    auto state = l.model->tca()->begin(l.model->hyper_synthesis(z_sym + med));
    for (int k = 0; k < l.cfg.slices; ++k) {
      auto [mean, scale] = l.model->tca()->predict(state);
      const torch::Tensor m = torch::round(mean * 64.0) / 64.0;
      const torch::Tensor sym = torch::round(y.slice(1, k * S, (k + 1) * S) - m);
      l.model->tca()->commit(state, sym + m, 64);
    }
  });
  Time t_exact[2];
  for (int threads : {1, 2})
    t_exact[threads - 1] = seconds([&] {
      exact::Session st(l.exact, zi.data(), z_sym.size(2), z_sym.size(3), threads);
      std::vector<float> mean(n), scale(n), refined(n);
      std::vector<int32_t> sym(n);
      for (int k = 0; k < l.cfg.slices; ++k) {
        st.predict(mean.data(), scale.data());
        const float* yk = y.data_ptr<float>() + k * n;
        for (size_t i = 0; i < n; ++i)
          sym[i] = static_cast<int32_t>(std::nearbyint(yk[i] - mean[i]));
        st.commit(sym.data(), refined.data());
      }
    });
  std::printf("%lldx%lld latents, ms wall / CPU: LibTorch path (1 thread) %.0f / %.0f; exact "
              "path %.0f / %.0f (1 thread), %.0f / %.0f (2 threads)\n",
              static_cast<long long>(H), static_cast<long long>(W), t_torch.wall * 1e3,
              t_torch.cpu * 1e3, t_exact[0].wall * 1e3, t_exact[0].cpu * 1e3,
              t_exact[1].wall * 1e3, t_exact[1].cpu * 1e3);
}

}  // namespace
