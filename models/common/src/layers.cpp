#include "lucid/models/layers.h"

#include <cmath>
#include <stdexcept>

namespace lucid::models {

namespace F = torch::nn::functional;

torch::nn::Conv2d conv(int in, int out, int kernel, int stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2));
}

torch::Tensor exact_gelu(const torch::Tensor& x) {
  return x * 0.5 * (1.0 + torch::erf(x * 0.7071067811865476));
}

// ---------------------------------------------------------------------------------------------
FdwaImpl::FdwaImpl(int channels, int heads, std::vector<WindowShape> windows, bool shifted)
    : channels_(channels), heads_(heads), windows_(std::move(windows)), shifted_(shifted) {
  const int groups = static_cast<int>(windows_.size());
  if (groups == 0 || heads % groups != 0 || channels % heads != 0)
    throw std::invalid_argument("FDWA: heads must divide into window groups and channels");
  qkv_ = register_module("qkv", torch::nn::Linear(channels, 3 * channels));
  proj_ = register_module("proj", torch::nn::Linear(channels, channels));
}

torch::Tensor FdwaImpl::group_attention(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v, WindowShape win, int heads) {
  const int64_t B = q.size(0), H = q.size(1), W = q.size(2), c = q.size(3);
  // A window at least as large as the map is the whole map (identical to masking the padding).
  int64_t wh = win.h, ww = win.w, sh = 0, sw = 0;
  if (H <= wh) wh = H; else if (shifted_) sh = wh / 2;
  if (W <= ww) ww = W; else if (shifted_) sw = ww / 2;
  const int64_t pad_b = (wh - (H + sh) % wh) % wh, pad_r = (ww - (W + sw) % ww) % ww;
  const bool padded = sh || sw || pad_b || pad_r;
  const int64_t Hp = H + sh + pad_b, Wp = W + sw + pad_r;
  const int64_t nh = Hp / wh, nw = Wp / ww, N = wh * ww, dh = c / heads;

  auto partition = [&](const torch::Tensor& t) {
    torch::Tensor p = padded ? torch::constant_pad_nd(t, {0, 0, sw, pad_r, sh, pad_b}) : t;
    return p.reshape({B, nh, wh, nw, ww, heads, dh})
        .permute({0, 1, 3, 5, 2, 4, 6})  // B, nh, nw, heads, wh, ww, dh
        .reshape({B * nh * nw, heads, N, dh});
  };
  torch::Tensor qw = partition(q), kw = partition(k), vw = partition(v);
  torch::Tensor attn = torch::matmul(qw, kw.transpose(-2, -1)) * (1.0 / std::sqrt(double(dh)));
  if (padded) {
    torch::Tensor valid = torch::constant_pad_nd(torch::ones({1, H, W}, q.options()),
                                                 {sw, pad_r, sh, pad_b});
    torch::Tensor mask = valid.reshape({1, nh, wh, nw, ww})
                             .permute({0, 1, 3, 2, 4})
                             .reshape({1, nh * nw, 1, 1, N});
    attn = (attn.view({B, nh * nw, heads, N, N}) + (1.0 - mask) * -1e4)
               .view({B * nh * nw, heads, N, N});
  }
  torch::Tensor out = torch::matmul(torch::softmax(attn, -1), vw);  // Bn, heads, N, dh
  out = out.reshape({B, nh, nw, heads, wh, ww, dh})
            .permute({0, 1, 4, 2, 5, 3, 6})  // B, nh, wh, nw, ww, heads, dh
            .reshape({B, Hp, Wp, c});
  if (padded) out = out.slice(1, sh, sh + H).slice(2, sw, sw + W);
  return out;
}

torch::Tensor FdwaImpl::forward(const torch::Tensor& x) {
  const int groups = static_cast<int>(windows_.size());
  const int64_t cg = channels_ / groups;
  auto qkv = qkv_->forward(x).chunk(3, -1);
  std::vector<torch::Tensor> outs;
  outs.reserve(groups);
  for (int g = 0; g < groups; ++g) {
    auto sl = [&](const torch::Tensor& t) { return t.slice(-1, g * cg, (g + 1) * cg); };
    outs.push_back(group_attention(sl(qkv[0]), sl(qkv[1]), sl(qkv[2]), windows_[g],
                                   heads_ / groups));
  }
  return proj_->forward(torch::cat(outs, -1));
}

// ---------------------------------------------------------------------------------------------
FmffnImpl::FmffnImpl(int channels, int hidden, int patch) : hidden_(hidden), patch_(patch) {
  fc1_ = register_module("fc1", torch::nn::Linear(channels, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, channels));
  torch::Tensor f = torch::zeros({hidden, patch, patch / 2 + 1, 2});
  f.select(-1, 0).fill_(1.0);  // identity filter
  filter_ = register_parameter("filter", f);
  // Tabulate the rFFT2 of every unit patch and the irFFT2 of every unit (and imaginary unit)
  // coefficient: both maps are linear, so these matrices reproduce them exactly.
  torch::NoGradGuard ng;
  const int64_t P = patch, K = P * (P / 2 + 1);
  torch::Tensor units = torch::eye(P * P).view({P * P, P, P});
  torch::Tensor spec = torch::fft::rfft2(units).reshape({P * P, K});
  fwd_re_ = torch::real(spec).contiguous();
  fwd_im_ = torch::imag(spec).contiguous();
  torch::Tensor cunits = torch::eye(K).view({K, P, P / 2 + 1});
  inv_re_ = torch::fft::irfft2(torch::complex(cunits, torch::zeros_like(cunits)),
                               torch::IntArrayRef{P, P}).reshape({K, P * P}).contiguous();
  inv_im_ = torch::fft::irfft2(torch::complex(torch::zeros_like(cunits), cunits),
                               torch::IntArrayRef{P, P}).reshape({K, P * P}).contiguous();
}

torch::Tensor FmffnImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), P = patch_;
  const int64_t K = P * (P / 2 + 1);
  if (fwd_re_.device() != x.device()) {
    fwd_re_ = fwd_re_.to(x.device());
    fwd_im_ = fwd_im_.to(x.device());
    inv_re_ = inv_re_.to(x.device());
    inv_im_ = inv_im_.to(x.device());
  }
  torch::Tensor h = exact_gelu(fc1_->forward(x));  // B, H, W, hid
  const int64_t pb = (P - H % P) % P, pr = (P - W % P) % P;
  if (pb || pr) h = torch::constant_pad_nd(h, {0, 0, 0, pr, 0, pb});
  const int64_t nh = (H + pb) / P, nw = (W + pr) / P;
  // B, nh, P, nw, P, hid -> B, nh, nw, hid, P*P
  // .contiguous(): LibTorch 1.13's matmul backward returned garbage gradients for this
  // permuted view when nh == nw == 1 (a map of exactly one patch); a dense copy avoids it.
  h = h.reshape({B, nh, P, nw, P, hidden_}).permute({0, 1, 3, 5, 2, 4}).contiguous().view(
      {B * nh * nw * hidden_, P * P});
  torch::Tensor xr = torch::mm(h, fwd_re_), xi = torch::mm(h, fwd_im_);  // rows x K
  torch::Tensor wr = filter_.select(-1, 0).reshape({1, hidden_, K});
  torch::Tensor wi = filter_.select(-1, 1).reshape({1, hidden_, K});
  xr = xr.view({B * nh * nw, hidden_, K});
  xi = xi.view({B * nh * nw, hidden_, K});
  torch::Tensor yr = (xr * wr - xi * wi).view({-1, K}), yi = (xr * wi + xi * wr).view({-1, K});
  h = torch::mm(yr, inv_re_) + torch::mm(yi, inv_im_);  // B*nh*nw*hid, P*P
  h = h.view({B, nh, nw, hidden_, P, P}).permute({0, 1, 4, 2, 5, 3}).reshape(
      {B, nh * P, nw * P, hidden_});
  if (pb || pr) h = h.slice(1, 0, H).slice(2, 0, W);
  return fc2_->forward(h.contiguous());
}

// ---------------------------------------------------------------------------------------------
FatBlockImpl::FatBlockImpl(int channels, int heads, std::vector<WindowShape> windows,
                           bool shifted, int ffn_ratio, int fft_patch) {
  pos_ = register_module(
      "pos", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).padding(1).groups(channels)));
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({channels})));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({channels})));
  attn_ = register_module("attn", Fdwa(channels, heads, std::move(windows), shifted));
  ffn_ = register_module("ffn", Fmffn(channels, channels * ffn_ratio, fft_patch));
}

torch::Tensor FatBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor t = (x + pos_->forward(x)).permute({0, 2, 3, 1});
  t = t + attn_->forward(norm1_->forward(t));
  t = t + ffn_->forward(norm2_->forward(t));
  return t.permute({0, 3, 1, 2});
}

// ---------------------------------------------------------------------------------------------
SimpleGdnImpl::SimpleGdnImpl(int channels, bool inverse) : inverse_(inverse) {
  beta_sqrt_ = register_parameter("beta", torch::ones({channels}));
  gamma_sqrt_ = register_parameter(
      "gamma", torch::eye(channels) * std::sqrt(0.1));
}

torch::Tensor SimpleGdnImpl::forward(const torch::Tensor& x) {
  const int64_t C = beta_sqrt_.size(0);
  torch::Tensor gamma = (gamma_sqrt_ * gamma_sqrt_).view({C, C, 1, 1});
  torch::Tensor beta = beta_sqrt_ * beta_sqrt_ + 1e-6;
  torch::Tensor norm = torch::conv2d(x.abs(), gamma, beta);
  return inverse_ ? x * norm : x / norm;
}

// ---------------------------------------------------------------------------------------------
ResBlockImpl::ResBlockImpl(int channels) {
  conv1_ = register_module("conv1", conv(channels, channels, 3));
  conv2_ = register_module("conv2", conv(channels, channels, 3));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  return x + conv2_->forward(exact_gelu(conv1_->forward(x)));
}

UpsampleImpl::UpsampleImpl(int in, int out) {
  conv_ = register_module("conv", conv(in, out * 4, 3));
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
  return torch::pixel_shuffle(conv_->forward(x), 2);
}

FilmResBlockImpl::FilmResBlockImpl(int channels, int cond_dim) {
  conv1_ = register_module("conv1", conv(channels, channels, 3));
  conv2_ = register_module("conv2", conv(channels, channels, 3));
  film_ = register_module("film", torch::nn::Linear(cond_dim, 2 * channels));
  torch::NoGradGuard ng;
  film_->weight.zero_();
  film_->bias.zero_();
  conv2_->weight.mul_(0.2);  // keeps the residual branch small at init (no normalization)
}

torch::Tensor FilmResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cond) {
  auto ss = film_->forward(cond).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
  torch::Tensor h = conv1_->forward(x);
  h = F::leaky_relu(h * (1 + ss[0]) + ss[1], F::LeakyReLUFuncOptions().negative_slope(0.1));
  return x + conv2_->forward(h);
}

}  // namespace lucid::models
