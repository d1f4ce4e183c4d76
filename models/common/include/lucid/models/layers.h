// Building blocks of the FAT codec: frequency-decomposition window attention (FDWA),
// frequency-modulation FFN (FMFFN), the FAT block, simplified GDN, residual blocks and
// conv + PixelShuffle upsampling.
#pragma once

#include <torch/torch.h>

#include <array>
#include <vector>

namespace lucid::models {

// A window shape in tokens (height x width).
struct WindowShape {
  int h;
  int w;
};

// Multi-head self-attention inside non-overlapping windows, with the heads split into groups
// that each use a differently shaped window (small square, large square, horizontal and
// vertical strips): each group sees a different band of spatial frequencies and directions.
// `shifted` offsets the window grid by half a window (the Swin alternation). Padded tokens are
// masked out of the attention, so any feature-map size works without border artefacts from
// zero tokens. Input and output are channels-last token maps [B, H, W, C].
class FdwaImpl : public torch::nn::Module {
 public:
  FdwaImpl(int channels, int heads, std::vector<WindowShape> windows, bool shifted);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::Tensor group_attention(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, WindowShape win, int heads);
  int channels_, heads_;
  std::vector<WindowShape> windows_;
  bool shifted_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(Fdwa);

// FFN whose hidden activations are modulated in the 2-D frequency domain: the hidden map is cut
// into non-overlapping P x P patches, rFFT'd, multiplied by a learned complex per-channel filter
// and transformed back (initialised to the identity filter). [B, H, W, C] in and out.
// The P x P real DFT and its inverse are applied as small matrix products (exactly the rFFT2 /
// irFFT2 linear maps, tabulated once): for P = 8 this is as fast as an FFT library call, and the
// FFT backward of this LibTorch build returned non-finite gradients in our tests.
class FmffnImpl : public torch::nn::Module {
 public:
  FmffnImpl(int channels, int hidden, int patch);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int hidden_, patch_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::Tensor filter_;  // [hidden, P, P/2+1, 2] (real, imag)
  torch::Tensor fwd_re_, fwd_im_;  // [P*P, K]: patch -> rFFT2 coefficients (K = P*(P/2+1))
  torch::Tensor inv_re_, inv_im_;  // [K, P*P]: coefficients (real / imaginary part) -> patch
};
TORCH_MODULE(Fmffn);

// FAT block: a depthwise 3x3 conv as positional encoding (x + dw(x), CPVT style: windows are
// otherwise permutation invariant), then x + FDWA(LN(x)), then x + FMFFN(LN(x)). NCHW in/out.
class FatBlockImpl : public torch::nn::Module {
 public:
  FatBlockImpl(int channels, int heads, std::vector<WindowShape> windows, bool shifted,
               int ffn_ratio, int fft_patch);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d pos_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  Fdwa attn_{nullptr};
  Fmffn ffn_{nullptr};
};
TORCH_MODULE(FatBlock);

// Simplified (L1) generalized divisive normalization: y = x / (beta + gamma * |x|), or the
// inverse y = x * (beta + gamma * |x|). Non-negativity by squared parametrisation.
class SimpleGdnImpl : public torch::nn::Module {
 public:
  SimpleGdnImpl(int channels, bool inverse);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  bool inverse_;
  torch::Tensor beta_sqrt_, gamma_sqrt_;
};
TORCH_MODULE(SimpleGdn);

// Residual block: x + conv3x3(GELU(conv3x3(x))).
class ResBlockImpl : public torch::nn::Module {
 public:
  explicit ResBlockImpl(int channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(ResBlock);

// 2x upsampling by conv3x3 to 4*out channels + PixelShuffle (ConvTranspose2d is slow on this
// LibTorch build).
class UpsampleImpl : public torch::nn::Module {
 public:
  UpsampleImpl(int in, int out);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Upsample);

torch::nn::Conv2d conv(int in, int out, int kernel, int stride = 1);

// Exact GELU, x * Phi(x), from elementwise ops. LibTorch 1.13's fused gelu backward returns
// wrong gradients when the incoming gradient is non-contiguous (measured here: it happens after
// every permute/reshape of a GELU output, as in the FFN's patch transform), so Lucid never
// calls torch::gelu.
torch::Tensor exact_gelu(const torch::Tensor& x);

// Residual block with FiLM conditioning: x + conv(act(film(conv(x)))), act = leaky ReLU 0.1;
// the FiLM starts at the identity. The JPEG and the video restorers' U-Nets are made of it.
class FilmResBlockImpl : public torch::nn::Module {
 public:
  FilmResBlockImpl(int channels, int cond_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cond);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear film_{nullptr};
};
TORCH_MODULE(FilmResBlock);

}  // namespace lucid::models
