// The FAT learned image codec (after "Frequency-Aware Transformer for Learned Image
// Compression", ICLR 2024): FAT-block analysis/synthesis transforms, a hyperprior with a
// factorized prior on z, a Gaussian conditional on y whose means and scales come from a
// transformer-based channel-wise autoregressive model (T-CA) with latent residual prediction,
// and quality-conditioned gain vectors so that one model covers the whole rate range.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "lucid/models/layers.h"
#include "lucid/models/weights.h"

namespace lucid::models {

struct FatConfig {
  // The transforms' fixed geometry, the same in every configuration: the analysis downsamples
  // by 16 (the latents y), the hyper analysis by 4 more (the hyper-latents z), so images are
  // coded padded to multiples of 64.
  static constexpr int kLatentStride = 16;
  static constexpr int kHyperStride = 4;
  static constexpr int kStride = kLatentStride * kHyperStride;

  std::string name = "small";
  int N = 96;            // transform width
  int M = 160;           // latent channels (coded by T-CA in `slices` slices)
  // Of the M latent channels, the last `detail` come from a detail branch: in the analysis one
  // convolution off the stride-8 features, in the synthesis one upsampling added to the
  // stride-8 features. The main path (and its FAT blocks at stride 16) carries M - detail.
  // It lets a trained model gain latent capacity (the ceiling of its reconstruction) without
  // starting over: see FatConfig::latent_extension and FatCodecImpl::adopt.
  int detail = 0;
  int Nz = 96;           // hyper-latent channels
  int hyper_ch = 192;    // hyper synthesis output channels (T-CA context)
  int slices = 5;        // T-CA channel slices (M % slices == 0)
  int tca_dim = 128;     // T-CA token width
  int tca_layers = 2;
  int tca_heads = 4;
  int heads_n = 4;       // FDWA heads at stride 8 (multiple of 4 window groups)
  int heads_m = 8;       // FDWA heads at stride 16
  int depth_n = 1;       // FAT blocks at stride 8
  int depth_m = 1;       // FAT blocks at stride 16
  int win_small = 4;
  int win_large = 8;
  int fft_patch = 8;
  int ffn_ratio = 2;
  int num_gains = 10;    // gain-vector anchors over the quality range
  double lambda_min = 0.0001;  // ~0.1 bpp on photographs at the lowest quality
  double lambda_max = 0.16;    // ~1.2 bpp at the highest

  static FatConfig small();
  static FatConfig paper();
  static FatConfig tiny();  // random-weight test model
  // A name above, or a whole configuration text (serialize()'s form, e.g. from a ledger).
  static FatConfig by_name(const std::string& name);  // throws std::invalid_argument
  std::string serialize() const;                      // "key=value;..." (stable)
  static FatConfig parse(const std::string& text);    // throws std::invalid_argument
  int slice_channels() const { return M / slices; }
  int main_channels() const { return M - detail; }
  // Rate-distortion trade-off for a quality in [0, 1] (log-linear between the bounds).
  double lambda_for(double quality) const;
  // Whether `to` is `from` with its gain anchors extended at the ends (same spacing in log
  // lambda, within 5%, everything else equal): sets how many anchors are added below and above.
  static bool gain_extension(const FatConfig& from, const FatConfig& to, int* below, int* above);
  // Whether `to` is `from` with more detail channels (same main channels, same slice width,
  // everything else equal): a model of `from` then migrates into `to` (FatCodecImpl::adopt).
  static bool latent_extension(const FatConfig& from, const FatConfig& to);
};

// Learned factorized density (Balle et al. 2018) per channel, with quantiles trained by an
// auxiliary loss; at export time it is frozen into integer CDF tables.
class FactorizedPriorImpl : public torch::nn::Module {
 public:
  explicit FactorizedPriorImpl(int channels);
  // Likelihood of values z [B, C, H, W] (per element).
  torch::Tensor likelihood(const torch::Tensor& z);
  torch::Tensor aux_loss();
  torch::Tensor medians();  // [C]
  // Per-channel pmf over integer offsets around the median: returns {pmf [C, L] with the
  // escape (tail) mass in the last column of each row's used length, lengths, offsets}.
  struct Tables {
    std::vector<std::vector<double>> pmfs;  // regular symbols then escape
    std::vector<int32_t> offsets;
  };
  Tables tabulate();

 private:
  torch::Tensor logits_cumulative(const torch::Tensor& x, bool stop_gradient);
  int channels_;
  std::vector<torch::Tensor> matrices_, biases_, factors_;
  torch::Tensor quantiles_;
};
TORCH_MODULE(FactorizedPrior);

// T-CA: at every latent position the K channel slices form a token sequence preceded by a
// hyperprior token; a causal transformer predicts slice k's means and scales from the
// hyperprior and slices < k (each previous slice embedded with a 3x3 conv, so the tokens also
// see their spatial neighbourhood), then latent residual prediction (LRP) corrects the
// quantization error of slice k. Training and coding run the same incremental code with a
// key/value cache, so decoding does no more work than encoding and the entropy parameters are
// computed by the same operations on both sides.
class ChannelTransformerImpl : public torch::nn::Module {
 public:
  explicit ChannelTransformerImpl(const FatConfig& cfg);

  struct State {
    int64_t B = 0, H = 0, W = 0;
    int next_slice = 0;
    torch::Tensor hyper;                  // [P, hyper_ch] (P = B*H*W)
    std::vector<torch::Tensor> keys, values;  // per layer: [P, heads, t, dh]
    torch::Tensor out;                    // transformer output for the current slice [P, d]
    std::vector<torch::Tensor> decoded;   // refined slices [B, S, H, W]
  };
  State begin(const torch::Tensor& hyper_features);  // [B, hyper_ch, H, W]
  // Means and scales for slice state.next_slice, each [B, S, H, W]. Scales are positive.
  std::pair<torch::Tensor, torch::Tensor> predict(State& state);
  // Takes the quantized slice (y_hat = round(y - mean) + mean, or its STE version in training),
  // applies LRP, stores it, advances; returns the refined slice. With grid > 0 the LRP
  // correction is rounded to multiples of 1/grid (coding does this so that the refined latents
  // are exact binary fractions that a checksum can cover).
  torch::Tensor commit(State& state, const torch::Tensor& y_hat_slice, double grid = 0);

 private:
  torch::Tensor run_layers(State& state, torch::Tensor tok);
  FatConfig cfg_;
  torch::nn::Linear hyper_in_{nullptr};
  torch::nn::Conv2d slice_in_{nullptr};
  torch::Tensor slice_embed_;  // [K, d]
  torch::nn::ModuleList ln1_, ln2_, qkv_, proj_, fc1_, fc2_;
  torch::nn::LayerNorm ln_out_{nullptr};
  torch::nn::Linear head_{nullptr};
  torch::nn::Linear lrp1_{nullptr}, lrp2_{nullptr};
};
TORCH_MODULE(ChannelTransformer);

class FatCodecImpl : public torch::nn::Module {
 public:
  explicit FatCodecImpl(const FatConfig& cfg);
  const FatConfig& config() const { return cfg_; }
  // Widens the rate range of a trained model (see FatConfig::gain_extension): the trained
  // anchors keep their values and the new ones start one high-rate step (gain ~ sqrt(lambda))
  // beyond the end anchors. With `opt`, that optimizer's moments for the gains are extended
  // the same way (copies of the end rows), so training resumes without a restart.
  void extend_gains(const FatConfig& to, int below, int above, torch::optim::Adam* opt = nullptr);
  // Takes the weights of a trained model whose configuration this one's extends
  // (FatConfig::latent_extension): every common weight is copied; the new detail channels
  // enter the hyper analysis with zero weights and leave the synthesis through a zero-initialised
  // branch, so the reconstruction is unchanged at first; their gains start at each anchor's mean
  // gain; the new T-CA slices keep their initial embeddings. A parameter whose shape grew
  // holds the old values in its leading block.
  void adopt(FatCodecImpl& old);

  // Per-channel gain (and inverse gain) for qualities q [B] in [0, 1]: [B, M, 1, 1].
  torch::Tensor gain(const torch::Tensor& q);
  torch::Tensor inverse_gain(const torch::Tensor& q);

  torch::Tensor analysis(const torch::Tensor& x);        // x in [0,1], [B,3,H,W] -> y
  torch::Tensor synthesis(const torch::Tensor& y_hat);   // -> x_hat (unclamped)
  torch::Tensor hyper_analysis(const torch::Tensor& y);  // -> z
  torch::Tensor hyper_synthesis(const torch::Tensor& z_hat);

  struct TrainOutput {
    torch::Tensor x_hat;
    torch::Tensor bits_y;  // [B] total bits of y per image
    torch::Tensor bits_z;  // [B]
  };
  // Training pass with additive-noise likelihoods and straight-through rounding on the
  // decoder path. x: [B,3,H,W] in [0,1] with H, W multiples of 64; q: [B] qualities.
  TrainOutput forward_train(const torch::Tensor& x, const torch::Tensor& q,
                            bool use_noise = true);
  torch::Tensor aux_loss() { return prior_->aux_loss(); }
  // The encoder's refinement objective (the coder's --effort): rate and reconstruction from
  // gained latents y [B, M, h, w] (y = analysis(x) * gain(q)), with z = h_a(y) and the y
  // residuals rounded as the coder rounds them, straight-through for the gradient. (Stochastic
  // Gumbel annealing, tried in its place, lowered the cost less in a few dozen steps.)
  TrainOutput forward_latent(const torch::Tensor& y, const torch::Tensor& q);

  FactorizedPrior prior() { return prior_; }
  ChannelTransformer tca() { return tca_; }

 private:
  FatConfig cfg_;
  torch::nn::Sequential g_a_{nullptr}, g_s_{nullptr}, h_a_{nullptr}, h_s_{nullptr};
  torch::nn::Conv2d g_a_detail_{nullptr};  // stride-8 features -> detail channels (detail > 0)
  Upsample g_s_detail_{nullptr};           // detail channels -> stride-8 features (detail > 0)
  size_t g_a_split_ = 0, g_s_split_ = 0;   // where the branches leave and join the main paths
  FactorizedPrior prior_{nullptr};
  ChannelTransformer tca_{nullptr};
  torch::Tensor log_gain_, log_inv_gain_;  // [num_gains, M]
};
TORCH_MODULE(FatCodec);

// Gaussian likelihood of the integer bin around v = y - mean with a lower-bounded scale.
torch::Tensor gaussian_likelihood(const torch::Tensor& v, const torch::Tensor& scale);
constexpr double kScaleLowerBound = 0.11;
constexpr double kLikelihoodLowerBound = 1e-9;

// The codec's weight-file contract for its hyper-latent entropy model: the factorized prior of z
// frozen at export into integer CDF tables ("entropy.z_cdf" [Nz, L], "entropy.z_cdf_len" [Nz],
// "entropy.z_offset" [Nz], int32), which every encoder and decoder then reads, so that both use
// the same bits on every machine whatever the float arithmetic.
struct FrozenPrior {
  std::vector<std::vector<uint32_t>> cdfs;  // per channel: entropy::quantize_pmf of its pmf
  std::vector<int32_t> offsets;             // per channel: the symbol of the table's first entry
};
// Tabulates `prior` and appends the three tensors to `w`.
void freeze_prior(FactorizedPrior prior, WeightFile& w);
// Reads them back; throws WeightError when they are missing or malformed for `channels`.
FrozenPrior read_frozen_prior(const WeightFile& w, int channels);

}  // namespace lucid::models
