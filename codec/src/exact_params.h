// Lucid's own fixed-order implementation of the entropy-parameter path (format version 2):
// z_hat -> hyper synthesis (h_s) -> T-CA (hyper_in, slice_in, slice_embed, pre-LN transformer
// layers with a causal key/value cache over the slice tokens, ln_out, head) -> means on the
// 1/64 grid and scales; LRP refinement of every decoded slice, also on the 1/64 grid.
//
// Encoder and decoder must compute bit-identical means, scales and refined latents, whatever
// the machine. The float LibTorch path does not: ATen's CPU kernel sets (default / AVX2 /
// AVX-512), thread counts and GPUs sum in different orders and use different erf / exp
// approximations. Here every output element is one sum in a fixed order (bias first, then the
// inputs in index order, taps row-major for convolutions), computed with IEEE float (and, in
// layer norms and the elementwise functions, double) + - * / and sqrt only:
//  - exact_params.cpp is compiled with -ffp-contract=off and without -ffast-math, so the
//    compiler neither fuses a*b+c nor reorders a sum; loops vectorise only across independent
//    output channels, which gives the same bits at any SIMD width;
//  - threads split independent positions only, never a sum;
//  - exp, log1p, tanh and erf are Lucid's own (double-precision polynomials, rounded to float),
//    not libm's, which differ between C libraries;
//  - rounding is round-half-even (std::nearbyint in the default rounding mode), as torch::round;
//  - on x86 the work runs under IEEE's default MXCSR (round to nearest, no flush-to-zero),
//    whatever the calling thread set.
// The result is the same on any IEEE-754 machine with float evaluated in float (x86-64 SSE,
// AArch64; not x87).
//
// Plain C++17: no LibTorch here. ImageCodec copies the FatCodec weights in once (image_codec.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lucid::codec::exact {

constexpr float kGrid = 64.0f;  // means and LRP corrections are multiples of 1/kGrid

// y = b + x W (torch's Linear: y = x W^T + b).
struct Linear {
  int in = 0, out = 0;
  std::vector<float> w;  // [in][out]: torch's weight [out][in] transposed
  std::vector<float> b;  // [out]
};

// 3x3 convolution, stride 1, zero padding 1, on channel-last maps [H][W][C].
struct Conv3x3 {
  int in = 0, out = 0;
  std::vector<float> w;  // [ky][kx][in][out]: torch's weight [out][in][ky][kx] permuted
  std::vector<float> b;  // [out]
};

struct LayerNorm {
  int dim = 0;
  double eps = 1e-5;
  std::vector<float> gamma, beta;  // [dim]
};

struct TcaLayer {
  LayerNorm ln1, ln2;
  Linear qkv, proj, fc1, fc2;
};

// The weights of the path (FatCodec's h_s and tca submodules, the prior's medians).
struct Model {
  int slices = 0;          // K
  int slice_channels = 0;  // S (M / K)
  int dim = 0;             // T-CA token width d
  int heads = 0;
  std::vector<float> z_median;  // [Nz]
  // h_s: conv3x3(Nz -> N), GELU, Upsample(N, N), GELU, Upsample(N, N), GELU, conv3x3(-> hyper_ch),
  // Upsample = conv3x3 to 4 * out channels then pixel_shuffle(2).
  Conv3x3 hs_in, hs_up1, hs_up2, hs_out;
  // T-CA
  Linear hyper_in;                 // hyper_ch -> d
  Conv3x3 slice_in;                // S -> d
  std::vector<float> slice_embed;  // [K][d]
  std::vector<TcaLayer> layers;
  LayerNorm ln_out;
  Linear head;  // d -> 2S (means, then scales before softplus)
  Linear lrp1;  // d + S -> d
  Linear lrp2;  // d -> S
  // Throws std::invalid_argument when the sizes do not fit together.
  void check() const;
};

// A parameter as LibTorch holds it: its shape and its row-major float data.
struct Param {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// The Model from FatCodec's parameters named as by named_parameters() ("h_s.0.weight",
// "h_s.2.conv.bias", "tca.qkv.1.weight", ...; others are ignored), in torch's layouts, and the
// prior's medians. Throws std::invalid_argument naming a missing or misshapen parameter.
Model model_from_parameters(const std::map<std::string, Param>& params,
                            std::vector<float> z_median, int slices, int heads, int layers);

// The entropy parameters of one image, slice after slice; encoder and decoder run the same
// calls. Not thread safe itself; `threads` workers split the positions of each step.
class Pool;

class Session {
 public:
  // z_sym: the hyper-latent symbols, channel-major [Nz][zh][zw] (as coded); the latent map is
  // (4 zh) x (4 zw). Runs the hyper synthesis.
  Session(const Model& m, const int32_t* z_sym, int zh, int zw, int threads);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  int height() const { return H_; }
  int width() const { return W_; }
  int positions() const { return P_; }
  // Means (on the 1/kGrid lattice) and scales (> 0) of the next slice, channel-major [S][H][W];
  // `raw_mean` (may be null) gets the means before rounding.
  void predict(float* mean, float* scale, float* raw_mean = nullptr);
  // The slice's symbols round(y - mean), channel-major [S][H][W]: applies LRP, keeps the
  // refined slice as context for the next one and writes it channel-major to `refined` (on
  // the 1/kGrid lattice) and its grid_code()s to `codes` (either may be null).
  void commit(const int32_t* sym, float* refined, int32_t* codes = nullptr);

 private:
  void predict_range(int p0, int p1, float* mean, float* scale, float* raw_mean);
  void commit_range(int p0, int p1, const int32_t* sym, float* refined, int32_t* codes);

  const Model& m_;
  int H_ = 0, W_ = 0, P_ = 0;
  std::unique_ptr<Pool> pool_;  // threads - 1 workers, for the session's lifetime
  int next_ = 0;              // next slice to predict
  bool predicted_ = false;    // predict() ran for slice next_, commit() not yet
  std::vector<float> hyper_;  // [P][hyper_ch]
  std::vector<float> prev_;   // [P][S] refined previous slice
  std::vector<float> out_;    // [P][d] transformer output of the current slice
  std::vector<float> mean_;   // [P][S] means of the current slice
  std::vector<float> keys_, values_;  // [layers][P][K][d]
};

// The matrix kernel (for tests and diagnostics; every choice gives the same bits, only the speed
// differs). kAuto, the default, takes AVX2 where the CPU has it; the environment variable
// LUCID_EXACT_KERNEL=scalar|sse|avx2 sets the default choice. kSse is the baseline build's
// vector code (SSE2 on x86-64), kScalar the same source with vectorisation off. Returns false
// (and changes nothing) when this build or CPU lacks the kernel. Not for use while a Session runs.
enum class Kernel { kAuto, kScalar, kSse, kAvx2 };
bool use_kernel(Kernel k);
// gelu_f over an array with the current kernel's code (AVX2 has its own; for tests).
void gelu_inplace(float* x, size_t n);

// round(v * kGrid) as an integer (the latent checksum's input); NaN and values out of the
// int32 range give INT32_MIN, as x86's conversion does, but defined everywhere.
int32_t grid_code(float v);

// The elementwise functions (exposed for tests). Each is accurate to about one float ulp.
float exp_f(float x);
float tanh_f(float x);
float erf_f(float x);
float softplus_f(float x);  // log(1 + e^x), x above 20 returned as is (torch's threshold)
float gelu_f(float x);      // x * 0.5 * (1 + erf(x / sqrt 2)), in float as Lucid's exact_gelu

}  // namespace lucid::codec::exact
