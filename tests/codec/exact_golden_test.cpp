// Golden bits of the exact entropy-parameter path (format version 2): means, scales, refined
// latents and checksum codes of a small model with generated weights, hashed. Every machine,
// compiler, kernel and thread count must give these same bits, or version-2 streams written
// on one would not decode on another: a failure here is a determinism bug (or a format change,
// which needs a new format version, container.h kFormatVersion, with the old path kept).
// Inputs are generated from integers, so they are identical everywhere. (Built without
// -ffp-contract=off on an FMA machine, exact_params.cpp fails SameBitsEverywhere: checked.)
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "exact_params.h"

namespace exact = lucid::codec::exact;

namespace {

struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // A multiple of 1/1024 in [-scale, scale] (exactly representable, no rounding anywhere).
  float weight(float scale) {
    return static_cast<float>(static_cast<int>(next() % 2049) - 1024) / 1024.0f * scale;
  }
};

std::vector<float> values(SplitMix64& rng, size_t n, float scale) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.weight(scale);
  return v;
}

exact::Linear linear(SplitMix64& rng, int in, int out, float scale) {
  return {in, out, values(rng, static_cast<size_t>(in) * out, scale), values(rng, out, 0.1f)};
}

exact::Conv3x3 conv(SplitMix64& rng, int in, int out, float scale) {
  return {in, out, values(rng, size_t{9} * in * out, scale), values(rng, out, 0.1f)};
}

exact::LayerNorm norm(SplitMix64& rng, int dim) {
  exact::LayerNorm ln;
  ln.dim = dim;
  ln.gamma = values(rng, dim, 0.5f);
  for (auto& g : ln.gamma) g += 1.0f;
  ln.beta = values(rng, dim, 0.2f);
  return ln;
}

// Widths that take both the 16-wide tiles and the narrower ones (8, 24, 40 outputs).
exact::Model model() {
  SplitMix64 rng{2024};
  exact::Model m;
  const int Nz = 8, N = 16, hyper = 24, S = 8, d = 32;
  m.slices = 3;
  m.slice_channels = S;
  m.dim = d;
  m.heads = 2;
  m.z_median = values(rng, Nz, 0.5f);
  m.hs_in = conv(rng, Nz, N, 0.4f);
  m.hs_up1 = conv(rng, N, 4 * N, 0.3f);
  m.hs_up2 = conv(rng, N, 4 * 10, 0.3f);
  m.hs_out = conv(rng, 10, hyper, 0.4f);
  m.hyper_in = linear(rng, hyper, d, 0.5f);
  m.slice_in = conv(rng, S, d, 0.3f);
  m.slice_embed = values(rng, static_cast<size_t>(m.slices) * d, 0.1f);
  for (int l = 0; l < 2; ++l) {
    exact::TcaLayer t;
    t.ln1 = norm(rng, d);
    t.ln2 = norm(rng, d);
    t.qkv = linear(rng, d, 3 * d, 0.4f);
    t.proj = linear(rng, d, d, 0.3f);
    t.fc1 = linear(rng, d, 40, 0.5f);
    t.fc2 = linear(rng, 40, d, 0.3f);
    m.layers.push_back(t);
  }
  m.ln_out = norm(rng, d);
  m.head = linear(rng, d, 2 * S, 0.8f);
  m.lrp1 = linear(rng, d + S, 24, 0.5f);
  m.lrp2 = linear(rng, 24, S, 0.6f);
  m.check();
  return m;
}

uint64_t run(const exact::Model& m, int threads) {
  SplitMix64 rng{7};
  const int zh = 3, zw = 5;
  std::vector<int32_t> z(m.z_median.size() * zh * zw);
  for (auto& v : z) v = static_cast<int32_t>(rng.next() % 9) - 4;
  exact::Session st(m, z.data(), zh, zw, threads);
  const size_t n = static_cast<size_t>(st.positions()) * m.slice_channels;
  std::vector<float> mean(n), scale(n), refined(n);
  std::vector<int32_t> sym(n), codes(n);
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](const void* p, size_t bytes) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  };
  for (int k = 0; k < m.slices; ++k) {
    st.predict(mean.data(), scale.data());
    for (auto& v : sym) v = static_cast<int32_t>(rng.next() % 13) - 6;
    st.commit(sym.data(), refined.data(), codes.data());
    mix(mean.data(), n * 4);
    mix(scale.data(), n * 4);
    mix(refined.data(), n * 4);
    mix(codes.data(), n * 4);
  }
  return h;
}

constexpr uint64_t kGolden = 5528969594580509678ULL;  // since format version 2 began

TEST(ExactGolden, SameBitsEverywhere) {
  const exact::Model m = model();
  for (exact::Kernel k : {exact::Kernel::kScalar, exact::Kernel::kSse, exact::Kernel::kAvx2}) {
    if (!exact::use_kernel(k)) continue;
    for (int threads : {1, 2})
      EXPECT_EQ(run(m, threads), kGolden) << "kernel " << static_cast<int>(k) << " threads "
                                          << threads;
  }
  exact::use_kernel(exact::Kernel::kAuto);
}

// The elementwise functions at fixed points, bit for bit.
TEST(ExactGolden, Functions) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = -4000; i <= 4000; ++i) {
    const float x = static_cast<float>(i) / 256.0f;  // [-15.6, 15.6] in steps of 1/256
    for (float y : {exact::exp_f(x * 0.25f), exact::tanh_f(x), exact::erf_f(x),
                    exact::softplus_f(x * 2.0f), exact::gelu_f(x)}) {
      uint32_t b;
      std::memcpy(&b, &y, 4);
      h = (h ^ b) * 1099511628211ULL;
    }
  }
  EXPECT_EQ(h, 4818708556352435173ULL);
}

}  // namespace
