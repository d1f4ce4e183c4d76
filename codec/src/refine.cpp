#include "refine.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "lucid/models/fat_codec.h"
#include "lucid/models/tiling.h"

namespace lucid::codec {

int refinement_steps(int effort) {
  static const int steps[] = {0, 0, 4, 8, 12, 16, 24, 32, 48, 64};
  return steps[std::clamp(effort, kMinEffort, kMaxEffort)];
}

namespace {

constexpr int64_t kLatentTile = 32;   // latents per tile side (512 pixels): bounds the memory
// Context around a tile, a multiple of the hyper analysis' stride.
constexpr int64_t kLatentMargin = models::FatConfig::kHyperStride;
// Adam on the latents (quantisation step 1), the rate decaying tenfold over the steps. Chosen
// on one 256x256 validation crop at q 50: 0.003 lowered the cost less in 16 steps, 0.02 no more.
constexpr double kLearningRate = 0.01;

// lambda * 255^2 * MSE over the first h x w pixels + bits / (h * w).
torch::Tensor rd_cost(models::FatCodecImpl& model, const torch::Tensor& x, const torch::Tensor& y,
                      const torch::Tensor& q, double lambda, int64_t h, int64_t w) {
  auto out = model.forward_latent(y, q);
  torch::Tensor d = out.x_hat.slice(2, 0, h).slice(3, 0, w) - x.slice(2, 0, h).slice(3, 0, w);
  torch::Tensor bpp = (out.bits_y + out.bits_z).sum() / static_cast<double>(h * w);
  return lambda * 255.0 * 255.0 * d.pow(2).mean() + bpp;
}

}  // namespace

RefineResult refine_latents(models::FatCodecImpl& model, const torch::Tensor& x, int64_t width,
                            int64_t height, const torch::Tensor& y, double quality01, int steps) {
  RefineResult r;
  r.y = y.clone();
  const torch::Tensor q = torch::full({1}, quality01);
  const double lambda = model.config().lambda_for(quality01);
  const int64_t lh = y.size(2), lw = y.size(3), px = models::FatConfig::kLatentStride;
  // Tiles with context bound the memory (tiling::grid_spans: cores of kLatentTile with
  // kLatentMargin of context): each is optimised on its own (its context latents too, but only
  // the core is kept), and kept only if its cost went down.
  const auto ys = tiling::grid_spans(lh, kLatentTile, kLatentMargin);
  const auto xs = tiling::grid_spans(lw, kLatentTile, kLatentMargin);
  for (const tiling::Span& sy : ys) {
    for (const tiling::Span& sx : xs) {
      const int64_t y0 = sy.outer_lo, y1 = sy.outer_hi, x0 = sx.outer_lo, x1 = sx.outer_hi;
      const torch::Tensor xt = x.slice(2, y0 * px, y1 * px).slice(3, x0 * px, x1 * px);
      const int64_t vh = std::clamp<int64_t>(height - y0 * px, 1, xt.size(2));
      const int64_t vw = std::clamp<int64_t>(width - x0 * px, 1, xt.size(3));
      const torch::Tensor start = y.slice(2, y0, y1).slice(3, x0, x1);
      auto cost_of = [&](const torch::Tensor& yt) {
        torch::NoGradGuard ng;
        return rd_cost(model, xt, yt, q, lambda, vh, vw).item<double>() * vh * vw;
      };
      const double before = cost_of(start);
      double after = before;
      torch::Tensor yt = start.clone().set_requires_grad(true);
      torch::optim::Adam opt({yt}, torch::optim::AdamOptions(kLearningRate));
      for (int s = 0; s < steps; ++s) {
        const double t = steps > 1 ? static_cast<double>(s) / (steps - 1) : 1.0;
        static_cast<torch::optim::AdamOptions&>(opt.param_groups()[0].options())
            .lr(kLearningRate * std::pow(0.1, t));
        // Gradients of the latents only: the shared model's weights and their .grad stay
        // untouched (several contexts may encode with one model at once).
        const torch::Tensor cost = rd_cost(model, xt, yt, q, lambda, vh, vw);
        yt.mutable_grad() = torch::autograd::grad({cost}, {yt})[0];
        opt.step();
      }
      if (steps > 0) after = cost_of(yt.detach());
      if (after < before) {
        r.kept = true;
        const int64_t cy = sy.offset(), cx = sx.offset(), ch = sy.size(), cw = sx.size();
        r.y.slice(2, sy.lo, sy.hi).slice(3, sx.lo, sx.hi)
            .copy_(yt.detach().slice(2, cy, cy + ch).slice(3, cx, cx + cw));
      } else {
        after = before;
      }
      r.cost_before += before;
      r.cost_after += after;
    }
  }
  const double pixels = static_cast<double>(width) * height;
  r.cost_before /= pixels;
  r.cost_after /= pixels;
  return r;
}

}  // namespace lucid::codec
