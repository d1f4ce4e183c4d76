#include "lucid/models/diqp.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "lucid/models/layers.h"  // FilmResBlock
#include "lucid/models/config_text.h"

namespace lucid::models {

namespace F = torch::nn::functional;

namespace {

torch::nn::Conv2d conv3(int in, int out, int stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}
torch::Tensor act(const torch::Tensor& x) {
  return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.1));
}

}  // namespace

double qp_level(double qp, QpScale scale) {
  switch (scale) {
    case QpScale::kH26x: return std::clamp(qp / 51.0, 0.0, 1.0);
    case QpScale::kAv1: return std::clamp(qp / 255.0, 0.0, 1.0);
    default: return 0.5;
  }
}

bool parse_qp_gate(const std::string& text, double* lo, double* hi) {
  const auto comma = text.find(',');
  if (comma == std::string::npos) return false;
  char* end = nullptr;
  *lo = std::strtod(text.c_str(), &end);
  if (comma == 0 || end != text.c_str() + comma) return false;
  *hi = std::strtod(text.c_str() + comma + 1, &end);
  return end != text.c_str() + comma + 1 && *end == '\0' && *lo >= 0 && *lo < *hi && *hi <= 1;
}

double qp_gate_strength(double level, double lo, double hi) {
  return std::clamp((level - lo) / (hi - lo), 0.0, 1.0);
}

DiqpConfig DiqpConfig::small() { return DiqpConfig{}; }

DiqpConfig DiqpConfig::tiny() {
  DiqpConfig c;
  c.name = "tiny";
  c.behind = 1;
  c.ahead = 1;
  c.far_ahead = 4;
  c.c1 = 8;
  c.c2 = 8;
  c.c3 = 16;
  c.heads = 2;
  c.window = 4;
  c.cond_dim = 16;
  c.qp_freqs = 2;
  c.ctx_ch = 4;
  c.ctx_size = 16;
  return c;
}

DiqpConfig DiqpConfig::by_name(const std::string& name) {
  if (name == "small") return small();
  if (name == "tiny") return tiny();
  throw std::invalid_argument("unknown video restorer configuration '" + name + "' (expected small or tiny)");
}

std::string DiqpConfig::serialize() const {
  std::ostringstream s;
  s.precision(17);
  s << "name=" << name << ";behind=" << behind << ";ahead=" << ahead << ";far_ahead=" << far_ahead
    << ";c1=" << c1 << ";c2=" << c2 << ";c3=" << c3 << ";enc1=" << enc1 << ";enc2=" << enc2
    << ";mid=" << mid << ";dec2=" << dec2 << ";dec1=" << dec1 << ";heads=" << heads
    << ";window=" << window << ";cond_dim=" << cond_dim << ";qp_freqs=" << qp_freqs
    << ";ctx_ch=" << ctx_ch << ";ctx_size=" << ctx_size << ";cut_threshold=" << cut_threshold;
  return s.str();
}

DiqpConfig DiqpConfig::parse(const std::string& text) {
  const auto kv = parse_config_text(text);
  DiqpConfig c;
  auto get = [&](const char* k) -> const std::string& { return config_value(kv, k); };
  c.name = get("name");
  for (auto [k, v] : {std::pair<const char*, int*>{"behind", &c.behind}, {"ahead", &c.ahead},
                      {"far_ahead", &c.far_ahead}, {"c1", &c.c1}, {"c2", &c.c2}, {"c3", &c.c3},
                      {"enc1", &c.enc1}, {"enc2", &c.enc2}, {"mid", &c.mid}, {"dec2", &c.dec2},
                      {"dec1", &c.dec1}, {"heads", &c.heads}, {"window", &c.window},
                      {"cond_dim", &c.cond_dim}, {"qp_freqs", &c.qp_freqs}, {"ctx_ch", &c.ctx_ch},
                      {"ctx_size", &c.ctx_size}})
    *v = std::stoi(get(k));
  c.cut_threshold = std::stod(get("cut_threshold"));
  auto bad = [] { return std::invalid_argument("video restorer configuration out of range"); };
  for (int v : {c.behind, c.ahead}) if (v < 0 || v > 16) throw bad();
  if (c.far_ahead < 0 || c.far_ahead > 250) throw bad();
  for (int v : {c.c1, c.c2, c.c3, c.heads, c.window, c.cond_dim, c.qp_freqs, c.ctx_ch, c.ctx_size})
    if (v < 1 || v > 4096) throw bad();
  for (int v : {c.enc1, c.enc2, c.mid, c.dec2, c.dec1}) if (v < 0 || v > 64) throw bad();
  if (c.c3 % c.heads != 0 || !(c.cut_threshold > 0)) throw bad();
  return c;
}

torch::Tensor thumbnail(const torch::Tensor& img, int s) {
  const bool batched = img.dim() == 4;
  torch::Tensor x = batched ? img : img.unsqueeze(0);
  const int64_t H = x.size(2), W = x.size(3);
  const double f = std::min(1.0, static_cast<double>(s) / static_cast<double>(std::max(H, W)));
  const int64_t h = std::max<int64_t>(1, std::lround(H * f)), w = std::max<int64_t>(1, std::lround(W * f));
  torch::Tensor t = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({h, w}));
  return batched ? t : t.squeeze(0);
}

double far_weight(const DiqpConfig& cfg, int actual_offset, const torch::Tensor& center_thumb,
                  const torch::Tensor& far_thumb) {
  if (cfg.far_ahead <= 0 || actual_offset <= 0) return 0.0;
  const double mad = (center_thumb - far_thumb).abs().mean().item<double>();
  if (mad > cfg.cut_threshold) return 0.0;
  return std::min(1.0, static_cast<double>(actual_offset) / cfg.far_ahead);
}

DiqpImpl::DiqpImpl(const DiqpConfig& cfg) : cfg_(cfg) {
  const int T = cfg.frames();
  const int in_ch = 6 * T + (cfg.far_ahead > 0 ? 6 : 0);
  const int cond_in = 2 * cfg.qp_freqs + 3 + 1 + 2 * cfg.ctx_ch;
  cond1_ = register_module("cond1", torch::nn::Linear(cond_in, cfg.cond_dim));
  cond2_ = register_module("cond2", torch::nn::Linear(cfg.cond_dim, cfg.cond_dim));
  ctx1_ = register_module("ctx1", conv3(3, cfg.ctx_ch, 2));
  ctx2_ = register_module("ctx2", conv3(cfg.ctx_ch, cfg.ctx_ch, 2));
  stem_ = register_module("stem", conv3(in_ch, cfg.c1));
  down1_ = register_module("down1", conv3(cfg.c1, cfg.c2, 2));
  down2_ = register_module("down2", conv3(cfg.c2, cfg.c3, 2));
  up2_ = register_module("up2", conv3(cfg.c3, 4 * cfg.c2));
  up1_ = register_module("up1", conv3(cfg.c2, 4 * cfg.c1));
  out_ = register_module("out", conv3(cfg.c1, 6));
  tok_ = register_module("tok", torch::nn::Conv2d(torch::nn::Conv2dOptions(6 * 16, cfg.c3, 1)));
  qn_ = register_module("qn", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.c3})));
  kn_ = register_module("kn", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.c3})));
  q_ = register_module("q", torch::nn::Linear(cfg.c3, cfg.c3));
  kv_ = register_module("kv", torch::nn::Linear(cfg.c3, 2 * cfg.c3));
  proj_ = register_module("proj", torch::nn::Linear(cfg.c3, cfg.c3));
  frame_embed_ = register_parameter("frame_embed", torch::randn({T + 1, cfg.c3}) * 0.02);
  auto blocks = [&](const char* name, torch::nn::ModuleList& list, int n, int ch) {
    list = register_module(name, torch::nn::ModuleList());
    for (int i = 0; i < n; ++i) list->push_back(FilmResBlock(ch, cfg.cond_dim));
  };
  blocks("enc1", enc1_, cfg.enc1, cfg.c1);
  blocks("enc2", enc2_, cfg.enc2, cfg.c2);
  blocks("mid", mid_, cfg.mid, cfg.c3);
  blocks("dec2", dec2_, cfg.dec2, cfg.c2);
  blocks("dec1", dec1_, cfg.dec1, cfg.c1);
  torch::NoGradGuard ng;
  out_->weight.zero_();  // starts as the identity: never worse than the decoded input
  out_->bias.zero_();
  proj_->weight.mul_(0.1);
}

void DiqpImpl::randomize_output(double std) {
  torch::NoGradGuard ng;
  out_->weight.normal_(0.0, std);
}

torch::Tensor DiqpImpl::condition(const Input& in) {
  const auto opts = in.level.options();
  const torch::Tensor k = torch::arange(1, cfg_.qp_freqs + 1, opts) * M_PI;
  const torch::Tensor ang = in.level.unsqueeze(1) * k.unsqueeze(0);
  const torch::Tensor onehot = F::one_hot(in.scale.to(torch::kLong).clamp(0, 2), 3).to(opts.dtype());
  torch::Tensor c = act(ctx1_->forward(in.context));
  c = act(ctx2_->forward(c));
  const torch::Tensor ctx = torch::cat({c.mean({2, 3}), c.amax({2, 3})}, 1);
  torch::Tensor feat = torch::cat({torch::sin(ang), torch::cos(ang), onehot, in.far_w.unsqueeze(1), ctx}, 1);
  return cond2_->forward(act(cond1_->forward(feat)));
}

// Each stride-8 token of the fused centre features attends to the tokens of its window in every
// frame (the near window and the far frame), the far frame's keys biased by log(far_w). Padded
// tokens (frame sides that are not window multiples) are masked out.
torch::Tensor DiqpImpl::attend(const torch::Tensor& x, const Input& in) {
  const int64_t B = x.size(0), C = x.size(1), h8 = x.size(2), w8 = x.size(3);
  const int64_t T = in.frames.size(1);
  const bool far = cfg_.far_ahead > 0;
  const int64_t F1 = T + (far ? 1 : 0);
  const int64_t ws = cfg_.window, heads = cfg_.heads, dh = C / heads;
  torch::Tensor all = in.frames.flatten(0, 1);  // [B*T, 6, h, w]
  if (far) all = torch::cat({in.frames, in.far.unsqueeze(1)}, 1).flatten(0, 1);
  torch::Tensor tok = tok_->forward(F::pixel_unshuffle(all, 4));  // [B*F1, C, h8, w8]
  tok = tok.view({B, F1, C, h8, w8}).permute({0, 1, 3, 4, 2});    // [B, F1, h8, w8, C]
  tok = tok + frame_embed_.narrow(0, 0, F1).view({1, F1, 1, 1, C});
  const int64_t ph = (h8 + ws - 1) / ws * ws, pw = (w8 + ws - 1) / ws * ws;
  const int64_t nh = ph / ws, nw = pw / ws, L = ws * ws;
  auto pad_hw = [&](const torch::Tensor& t) {  // pads dims (-3, -2) of [..., h8, w8, C]
    return F::pad(t, F::PadFuncOptions({0, 0, 0, pw - w8, 0, ph - h8}));
  };
  // queries [B*nW, heads, L, dh]
  torch::Tensor q = q_->forward(qn_->forward(x.permute({0, 2, 3, 1})));
  q = pad_hw(q).view({B, nh, ws, nw, ws, heads, dh}).permute({0, 1, 3, 5, 2, 4, 6})
          .reshape({B * nh * nw, heads, L, dh});
  // keys and values [B*nW, heads, F1*L, dh]
  torch::Tensor kv = kv_->forward(kn_->forward(tok));  // [B, F1, h8, w8, 2C]
  kv = pad_hw(kv).view({B, F1, nh, ws, nw, ws, 2, heads, dh})
           .permute({6, 0, 2, 4, 7, 1, 3, 5, 8})
           .reshape({2, B * nh * nw, heads, F1 * L, dh});
  // mask and far bias [B*nW, 1, 1, F1*L]
  torch::Tensor valid = torch::ones({1, h8, w8}, x.options());
  valid = F::pad(valid, F::PadFuncOptions({0, pw - w8, 0, ph - h8}))
              .view({1, nh, ws, nw, ws}).permute({0, 1, 3, 2, 4}).reshape({1, nh * nw, 1, L});
  torch::Tensor bias = ((valid - 1) * 1e4).expand({B, nh * nw, F1, L}).clone();
  if (far) {
    // log weight; exactly no attention at weight 0 (exp(-1e4) is 0 in float)
    const torch::Tensor fb = torch::where(in.far_w > 0, torch::log(in.far_w.clamp_min(1e-4)),
                                          torch::full_like(in.far_w, -1e4)).view({B, 1, 1});
    bias.select(2, F1 - 1).add_(fb);
  }
  bias = bias.reshape({B * nh * nw, 1, 1, F1 * L});
  torch::Tensor att = torch::matmul(q, kv[0].transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(dh))) + bias;
  torch::Tensor o = torch::matmul(torch::softmax(att, -1), kv[1]);  // [B*nW, heads, L, dh]
  o = o.view({B, nh, nw, heads, ws, ws, dh}).permute({0, 1, 4, 2, 5, 3, 6}).reshape({B, ph, pw, C});
  o = proj_->forward(o.narrow(1, 0, h8).narrow(2, 0, w8));
  return x + o.permute({0, 3, 1, 2});
}

torch::Tensor DiqpImpl::forward(const Input& in) {
  const int T = cfg_.frames();
  if (in.frames.dim() != 5 || in.frames.size(1) != T || in.frames.size(2) != 6)
    throw std::invalid_argument("video restorer: frames must be [B, " + std::to_string(T) + ", 6, h, w]");
  const int64_t h = in.frames.size(3), w = in.frames.size(4);
  if (h % (DiqpConfig::kMultiple / 2) != 0 || w % (DiqpConfig::kMultiple / 2) != 0)
    throw std::invalid_argument("video restorer: frame sides must be multiples of 16");
  const torch::Tensor center = in.frames.select(1, cfg_.behind);
  std::vector<torch::Tensor> parts{center};
  for (int t = 0; t < T; ++t)
    if (t != cfg_.behind) parts.push_back(in.frames.select(1, t) - center);
  if (cfg_.far_ahead > 0) parts.push_back((in.far - center) * in.far_w.view({-1, 1, 1, 1}));
  const torch::Tensor cond = condition(in);
  auto run = [&](torch::nn::ModuleList& list, torch::Tensor x) {
    for (auto& m : *list) x = m->as<FilmResBlock>()->forward(x, cond);
    return x;
  };
  torch::Tensor s1 = run(enc1_, act(stem_->forward(torch::cat(parts, 1))));
  torch::Tensor s2 = run(enc2_, act(down1_->forward(s1)));
  torch::Tensor x = act(down2_->forward(s2));
  x = attend(x, in);
  x = run(mid_, x);
  x = run(dec2_, s2 + F::pixel_shuffle(up2_->forward(x), 2));
  x = run(dec1_, s1 + F::pixel_shuffle(up1_->forward(x), 2));
  return center + out_->forward(x);
}

}  // namespace lucid::models
