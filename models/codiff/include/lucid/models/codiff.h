// JPEG artifact removal after CODiff ("Compression-Aware One-Step Diffusion for JPEG Artifact
// Removal"), sized for CPUs:
//  - CaVE, the compression-aware visual embedder: a strided conv encoder over the decoded JPEG,
//    globally pooled into an embedding, trained explicitly (quality-factor regression plus a
//    pairwise ranking term) and implicitly (a light decoder reconstructs the clean image from
//    the JPEG and the embedding).
//  - A conditional U-Net denoiser used as a one-step diffusion model: trained at random
//    timesteps on noised JPEG inputs and at the fixed inference timestep t* on the plain JPEG
//    image (the compression error plays the role of the noise at t*); it predicts the clean
//    image x0 as input + residual, so inference is a single forward pass.
// Conditioning (FiLM scale/shift in every residual block): timestep embedding, CaVE embedding,
// and the quality factor with a "known" flag (from the file's quantization tables when they are
// available, CaVE's own estimate otherwise).
#pragma once

#include <torch/torch.h>

#include <string>

#include "lucid/models/layers.h"  // FilmResBlock

namespace lucid::models {

struct CodiffConfig {
  std::string name = "small";
  int cave_ch = 32;   // CaVE encoder width (stages: ch/2, ch, 2ch, 2ch at strides 2..16)
  int emb_dim = 64;   // CaVE embedding
  int dec_ch = 16;    // CaVE light decoder width (training only, kept in the file for resume)
  int c1 = 32;        // U-Net widths at strides 2, 4, 8 (the input is pixel-unshuffled by 2)
  int c2 = 64;
  int c3 = 128;
  int enc1 = 1, enc2 = 1, mid = 2, dec2 = 1, dec1 = 2;  // residual blocks per stage
  int cond_dim = 128;
  int t_freqs = 8;        // sinusoidal timestep embedding: 2 * t_freqs features
  double t_star = 0.25;   // inference timestep in [0, 1]
  double sigma_max = 0.05;  // std of the extra Gaussian noise at t = 1 (in [0, 1] pixel units)

  static CodiffConfig small();
  static CodiffConfig tiny();  // random-weight test model
  static CodiffConfig by_name(const std::string& name);  // throws std::invalid_argument
  std::string serialize() const;                         // "key=value;..." (stable)
  static CodiffConfig parse(const std::string& text);    // throws std::invalid_argument
  // Std of the Gaussian noise added to the JPEG image at timestep t (0 for t <= t*).
  double sigma(double t) const;
  // Spatial multiple the U-Net needs (input sides are padded to it).
  static constexpr int kMultiple = 8;
};

// CaVE. Pooled features are exposed separately so that large images can be encoded tile by
// tile: the global average of the pooled features is the area-weighted mean over tiles.
class CaveImpl : public torch::nn::Module {
 public:
  explicit CaveImpl(const CodiffConfig& cfg);
  // x: [B,3,H,W] in [0,1] (any size >= 1) -> spatially averaged features [B, feature_dim()]:
  // learned conv features and the mean log magnitude of each luma 8x8 block-DCT frequency.
  torch::Tensor pooled_features(const torch::Tensor& x);
  // pooled features -> embedding [B, emb_dim].
  torch::Tensor embed(const torch::Tensor& pooled);
  // embedding -> predicted quality factor / 100, [B] (unbounded; clamp when used).
  torch::Tensor predict_qf(const torch::Tensor& emb);
  // Implicit objective: clean-image estimate from the JPEG image and the embedding.
  torch::Tensor reconstruct(const torch::Tensor& x, const torch::Tensor& emb);
  int feature_dim() const { return 2 * cfg_.cave_ch + 64; }

 private:
  CodiffConfig cfg_;
  torch::nn::Sequential enc_{nullptr};
  torch::nn::Linear proj1_{nullptr}, proj2_{nullptr}, qf_head_{nullptr};
  torch::nn::Conv2d dec_in_{nullptr}, dec_mid_{nullptr}, dec_out_{nullptr};
  torch::nn::Linear dec_film_{nullptr};
  torch::Tensor dct_;  // fixed 8x8 DCT filters (not a parameter; rebuilt per device)
};
TORCH_MODULE(Cave);

class RestoreUNetImpl : public torch::nn::Module {
 public:
  explicit RestoreUNetImpl(const CodiffConfig& cfg);
  // x_t: [B,3,H,W] (H, W multiples of kMultiple); cond: [B, cond_dim]. Returns x0 estimate
  // (x_t + residual, unclamped).
  torch::Tensor forward(const torch::Tensor& x_t, const torch::Tensor& cond);
  // Sets the output layer to small random values (the trainer starts from zero = identity;
  // random-weight test models use this so that tests see a non-trivial residual).
  void randomize_output(double std);

 private:
  // (no submodule may be named like a Python keyword: checkpoints are TorchScript archives)
  torch::nn::Conv2d stem_{nullptr}, down1_{nullptr}, down2_{nullptr}, up2_{nullptr},
      up1_{nullptr}, out_{nullptr};
  torch::nn::ModuleList enc1_, enc2_, mid_, dec2_, dec1_;
};
TORCH_MODULE(RestoreUNet);

class CodiffImpl : public torch::nn::Module {
 public:
  explicit CodiffImpl(const CodiffConfig& cfg);
  const CodiffConfig& config() const { return cfg_; }
  Cave cave() { return cave_; }
  RestoreUNet unet() { return unet_; }

  // Conditioning vector from the timestep t [B], CaVE embedding [B,E], quality factor / 100
  // [B] and known flag [B] (1 = qf from the file, 0 = CaVE's estimate).
  torch::Tensor condition(const torch::Tensor& t, const torch::Tensor& emb,
                          const torch::Tensor& qf01, const torch::Tensor& known);
  // One-step restoration of a JPEG-decoded batch at t*, given CaVE's embedding and the
  // quality input. x: [B,3,H,W] in [0,1], sides multiples of kMultiple. Returns x0 (unclamped).
  torch::Tensor restore(const torch::Tensor& x, const torch::Tensor& emb,
                        const torch::Tensor& qf01, const torch::Tensor& known);

 private:
  CodiffConfig cfg_;
  Cave cave_{nullptr};
  RestoreUNet unet_{nullptr};
  torch::nn::Linear cond1_{nullptr}, cond2_{nullptr};
};
TORCH_MODULE(Codiff);

}  // namespace lucid::models
