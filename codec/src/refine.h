// Encoder-side latent refinement, the codec's --effort: the analysis transform's latents are a
// good first guess, not the best stream for that image. At effort > 1 the encoder spends a few
// dozen gradient steps on the gained latents y, lowering this image's rate-distortion cost
// lambda * 255^2 * MSE + bpp with rounding made differentiable straight-through. The decoder
// and the bitstream are unchanged: the refined y is coded exactly as an analysed one would be.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lucid::models {
class FatCodecImpl;
}

namespace lucid::codec {

constexpr int kMinEffort = 1, kMaxEffort = 9, kDefaultEffort = 1;

// Gradient steps at an effort level (0 at effort 1: the analysis transform's latents as they are).
int refinement_steps(int effort);

struct RefineResult {
  at::Tensor y;            // refined gained latents (each tile the input's where not better)
  double cost_before = 0;  // lambda * 255^2 * MSE + bpp with the coder's rounding, per pixel,
  double cost_after = 0;   // summed over the tiles (each measured with its context)
  bool kept = false;       // some tile was refined
};

// x: the padded input [1, 3, H, W] in [0, 1] (CPU); the cost counts the top-left width x height
// pixels. y: analysis(x) * gain(quality01) [1, M, H/16, W/16]. Runs on the calling thread's
// LibTorch thread count. Only the latents get gradients: the model (shared by every context
// of a model handle) is read, never written, so concurrent encodes may refine at once.
RefineResult refine_latents(models::FatCodecImpl& model, const at::Tensor& x, int64_t width,
                            int64_t height, const at::Tensor& y, double quality01, int steps);

}  // namespace lucid::codec
