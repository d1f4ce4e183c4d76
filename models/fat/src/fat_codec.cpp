#include "lucid/models/fat_codec.h"

#include "lucid/models/config_text.h"
#include "lucid/entropy/cdf.h"

#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

namespace lucid::models {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
// Configurations

// The shipped configuration. Its rate range reaches lambda 0.824 (12 anchors, two beyond the
// original 0.0001..0.16, same spacing) so that the top quality can approach 2 bpp; a model
// trained on the narrower range migrates to it on resume (FatConfig::gain_extension).
FatConfig FatConfig::small() {
  FatConfig c;
  // 320 latent channels (twice the first model's 160, as the paper has): at 160 the trained
  // transforms reconstructed unquantized crops at only 31.6 dB, a ceiling for the top quality.
  // The added 160 come from the detail branch so that the 160-channel model migrates.
  c.M = 320;
  c.detail = 160;
  c.slices = 10;
  c.num_gains = 12;
  c.lambda_max = 0.16 * std::exp(2 * (std::log(0.16) - std::log(0.0001)) / 9);
  return c;
}

FatConfig FatConfig::paper() {
  FatConfig c;
  c.name = "paper";
  c.N = 256;
  c.M = 320;
  c.Nz = 192;
  c.hyper_ch = 640;
  c.slices = 5;
  c.tca_dim = 512;
  c.tca_layers = 8;
  c.tca_heads = 8;
  c.heads_n = 8;
  c.heads_m = 16;
  c.depth_n = 4;
  c.depth_m = 8;
  c.win_small = 4;
  c.win_large = 16;
  c.ffn_ratio = 4;
  return c;
}

FatConfig FatConfig::tiny() {
  FatConfig c;
  c.name = "tiny";
  c.N = 16;
  c.M = 24;
  c.Nz = 8;
  c.hyper_ch = 24;
  c.slices = 3;
  c.tca_dim = 16;
  c.tca_layers = 1;
  c.tca_heads = 2;
  c.heads_n = 4;
  c.heads_m = 4;
  c.win_small = 2;
  c.win_large = 4;
  c.fft_patch = 4;
  return c;
}

FatConfig FatConfig::by_name(const std::string& name) {
  if (name.find('=') != std::string::npos) return parse(name);  // a whole configuration text
  if (name == "small") return small();
  if (name == "paper") return paper();
  if (name == "tiny") return tiny();
  throw std::invalid_argument("unknown model configuration '" + name +
                              "' (expected small, paper, tiny or a configuration text)");
}

std::string FatConfig::serialize() const {
  std::ostringstream s;
  s.precision(17);
  s << "name=" << name << ";N=" << N << ";M=" << M;
  if (detail) s << ";detail=" << detail;  // absent = 0: configurations before it read the same
  s << ";Nz=" << Nz << ";hyper_ch=" << hyper_ch
    << ";slices=" << slices << ";tca_dim=" << tca_dim << ";tca_layers=" << tca_layers
    << ";tca_heads=" << tca_heads << ";heads_n=" << heads_n << ";heads_m=" << heads_m
    << ";depth_n=" << depth_n << ";depth_m=" << depth_m << ";win_small=" << win_small
    << ";win_large=" << win_large << ";fft_patch=" << fft_patch << ";ffn_ratio=" << ffn_ratio
    << ";num_gains=" << num_gains << ";lambda_min=" << lambda_min
    << ";lambda_max=" << lambda_max;
  return s.str();
}

FatConfig FatConfig::parse(const std::string& text) {
  const auto kv = parse_config_text(text);
  FatConfig c;
  auto geti = [&](const char* k, int& v) { v = std::stoi(config_value(kv, k)); };
  auto getd = [&](const char* k, double& v) { v = std::stod(config_value(kv, k)); };
  c.name = config_value(kv, "name");
  geti("N", c.N); geti("M", c.M); geti("Nz", c.Nz); geti("hyper_ch", c.hyper_ch);
  if (kv.count("detail")) geti("detail", c.detail);
  geti("slices", c.slices); geti("tca_dim", c.tca_dim); geti("tca_layers", c.tca_layers);
  geti("tca_heads", c.tca_heads); geti("heads_n", c.heads_n); geti("heads_m", c.heads_m);
  geti("depth_n", c.depth_n); geti("depth_m", c.depth_m); geti("win_small", c.win_small);
  geti("win_large", c.win_large); geti("fft_patch", c.fft_patch); geti("ffn_ratio", c.ffn_ratio);
  geti("num_gains", c.num_gains); getd("lambda_min", c.lambda_min);
  getd("lambda_max", c.lambda_max);
  // Weight files are input too: bound every size before anything is allocated from it.
  for (int v : {c.N, c.M, c.Nz, c.hyper_ch, c.slices, c.tca_dim, c.tca_heads, c.heads_n,
                c.heads_m, c.win_small, c.win_large, c.fft_patch, c.ffn_ratio, c.num_gains})
    if (v < 1 || v > 4096) throw std::invalid_argument("model configuration out of range");
  for (int v : {c.tca_layers, c.depth_n, c.depth_m})
    if (v < 0 || v > 64) throw std::invalid_argument("model configuration out of range");
  if (c.detail < 0 || c.detail >= c.M)
    throw std::invalid_argument("model configuration out of range");
  if (c.M % c.slices || c.num_gains < 2 || c.tca_dim % c.tca_heads || c.heads_n % 4 ||
      c.heads_m % 4 || c.N % c.heads_n || c.main_channels() % c.heads_m || c.fft_patch % 2 ||
      !(c.lambda_min > 0 && c.lambda_max > c.lambda_min))
    throw std::invalid_argument("inconsistent model configuration");
  return c;
}

double FatConfig::lambda_for(double quality) const {
  const double t = std::min(1.0, std::max(0.0, quality));
  return std::exp(std::log(lambda_min) + t * (std::log(lambda_max) - std::log(lambda_min)));
}

// ---------------------------------------------------------------------------------------------
torch::Tensor gaussian_likelihood(const torch::Tensor& v, const torch::Tensor& scale) {
  const double inv_sqrt2 = 1.0 / std::sqrt(2.0);
  torch::Tensor s = scale.clamp_min(kScaleLowerBound);
  torch::Tensor a = v.abs();
  // Phi(x) = 0.5 * erfc(-x / sqrt 2); computing the upper tail keeps precision.
  torch::Tensor upper = 0.5 * torch::erfc(-(0.5 - a) / s * inv_sqrt2);
  torch::Tensor lower = 0.5 * torch::erfc(-(-0.5 - a) / s * inv_sqrt2);
  return (upper - lower).clamp_min(kLikelihoodLowerBound);
}

// ---------------------------------------------------------------------------------------------
// Factorized prior

namespace {
constexpr double kInitScale = 10.0;
constexpr double kTailMass = 1e-9;
const std::vector<int> kFilters = {1, 3, 3, 3, 1};
}  // namespace

FactorizedPriorImpl::FactorizedPriorImpl(int channels) : channels_(channels) {
  const int layers = static_cast<int>(kFilters.size()) - 1;
  const double scale = std::pow(kInitScale, 1.0 / layers);
  for (int i = 0; i < layers; ++i) {
    const double init = std::log(std::expm1(1.0 / scale / kFilters[i + 1]));
    matrices_.push_back(register_parameter(
        "matrix" + std::to_string(i),
        torch::full({channels, kFilters[i + 1], kFilters[i]}, init)));
    biases_.push_back(register_parameter(
        "bias" + std::to_string(i), torch::rand({channels, kFilters[i + 1], 1}) - 0.5));
    if (i < layers - 1)
      factors_.push_back(register_parameter("factor" + std::to_string(i),
                                            torch::zeros({channels, kFilters[i + 1], 1})));
  }
  quantiles_ = register_parameter(
      "quantiles",
      torch::tensor({-kInitScale, 0.0, kInitScale}, torch::kFloat).repeat({channels, 1, 1}));
}

torch::Tensor FactorizedPriorImpl::logits_cumulative(const torch::Tensor& x, bool stop_gradient) {
  torch::Tensor logits = x;  // [C, 1, N]
  for (size_t i = 0; i < matrices_.size(); ++i) {
    torch::Tensor m = F::softplus(matrices_[i]);
    torch::Tensor b = biases_[i];
    if (stop_gradient) { m = m.detach(); b = b.detach(); }
    logits = torch::matmul(m, logits) + b;
    if (i < factors_.size()) {
      torch::Tensor f = stop_gradient ? factors_[i].detach() : factors_[i];
      logits = logits + torch::tanh(f) * torch::tanh(logits);
    }
  }
  return logits;
}

torch::Tensor FactorizedPriorImpl::likelihood(const torch::Tensor& z) {
  const int64_t C = z.size(1);
  torch::Tensor v = z.transpose(0, 1).reshape({C, 1, -1});
  torch::Tensor lower = logits_cumulative(v - 0.5, false);
  torch::Tensor upper = logits_cumulative(v + 0.5, false);
  torch::Tensor sign = -torch::sign(lower + upper).detach();
  torch::Tensor lik = (torch::sigmoid(sign * upper) - torch::sigmoid(sign * lower)).abs();
  lik = lik.clamp_min(kLikelihoodLowerBound);
  std::vector<int64_t> shape = {C, z.size(0), z.size(2), z.size(3)};
  return lik.reshape(shape).transpose(0, 1);
}

torch::Tensor FactorizedPriorImpl::aux_loss() {
  torch::Tensor logits = logits_cumulative(quantiles_, true);
  const double t = std::log(2.0 / kTailMass - 1.0);
  torch::Tensor target = torch::tensor({-t, 0.0, t}, quantiles_.options()).view({1, 1, 3});
  return (logits - target).abs().sum();
}

torch::Tensor FactorizedPriorImpl::medians() {
  return quantiles_.select(2, 1).select(1, 0);
}

FactorizedPriorImpl::Tables FactorizedPriorImpl::tabulate() {
  torch::NoGradGuard no_grad;
  Tables t;
  torch::Tensor q = quantiles_.detach().to(torch::kDouble).select(1, 0);  // [C,3]
  for (int c = 0; c < channels_; ++c) {
    const double med = q[c][1].item<double>();
    const int lo = static_cast<int>(std::floor(q[c][0].item<double>() - med));
    const int hi = static_cast<int>(std::ceil(q[c][2].item<double>() - med));
    const int lo_c = std::min(0, std::max(lo, -1024)), hi_c = std::max(0, std::min(hi, 1024));
    const int n = hi_c - lo_c + 1;
    // Evaluate this channel's density on the integer grid around its median.
    torch::Tensor grid = torch::arange(lo_c, hi_c + 1, torch::kFloat) + static_cast<float>(med);
    torch::Tensor x = torch::zeros({channels_, 1, n});
    x.select(0, c).copy_(grid.view({1, n}));
    torch::Tensor lower = logits_cumulative(x - 0.5, true).select(0, c).view({n});
    torch::Tensor upper = logits_cumulative(x + 0.5, true).select(0, c).view({n});
    torch::Tensor sign = -torch::sign(lower + upper);
    torch::Tensor pmf = (torch::sigmoid(sign * upper) - torch::sigmoid(sign * lower)).abs();
    const double tail = torch::sigmoid(lower[0]).item<double>() +
                        torch::sigmoid(-upper[n - 1]).item<double>();
    std::vector<double> p(n + 1);
    for (int i = 0; i < n; ++i) p[i] = pmf[i].item<double>();
    p[n] = std::max(tail, 1e-9);
    t.pmfs.push_back(std::move(p));
    t.offsets.push_back(lo_c);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// T-CA

ChannelTransformerImpl::ChannelTransformerImpl(const FatConfig& cfg) : cfg_(cfg) {
  const int d = cfg.tca_dim, S = cfg.slice_channels();
  hyper_in_ = register_module("hyper_in", torch::nn::Linear(cfg.hyper_ch, d));
  slice_in_ = register_module("slice_in", conv(S, d, 3));
  slice_embed_ = register_parameter("slice_embed", torch::randn({cfg.slices, d}) * 0.02);
  ln1_ = register_module("ln1", torch::nn::ModuleList());
  ln2_ = register_module("ln2", torch::nn::ModuleList());
  qkv_ = register_module("qkv", torch::nn::ModuleList());
  proj_ = register_module("proj", torch::nn::ModuleList());
  fc1_ = register_module("fc1", torch::nn::ModuleList());
  fc2_ = register_module("fc2", torch::nn::ModuleList());
  for (int l = 0; l < cfg.tca_layers; ++l) {
    ln1_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    ln2_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    qkv_->push_back(torch::nn::Linear(d, 3 * d));
    proj_->push_back(torch::nn::Linear(d, d));
    fc1_->push_back(torch::nn::Linear(d, 2 * d));
    fc2_->push_back(torch::nn::Linear(2 * d, d));
  }
  ln_out_ = register_module("ln_out", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  head_ = register_module("head", torch::nn::Linear(d, 2 * S));
  lrp1_ = register_module("lrp1", torch::nn::Linear(d + S, d));
  lrp2_ = register_module("lrp2", torch::nn::Linear(d, S));
}

ChannelTransformerImpl::State ChannelTransformerImpl::begin(const torch::Tensor& hyper) {
  State s;
  s.B = hyper.size(0);
  s.H = hyper.size(2);
  s.W = hyper.size(3);
  s.hyper = hyper.permute({0, 2, 3, 1}).reshape({s.B * s.H * s.W, hyper.size(1)});
  s.keys.resize(cfg_.tca_layers);
  s.values.resize(cfg_.tca_layers);
  return s;
}

torch::Tensor ChannelTransformerImpl::run_layers(State& s, torch::Tensor h) {
  const int64_t P = h.size(0), d = cfg_.tca_dim, nh = cfg_.tca_heads, dh = d / nh;
  for (int l = 0; l < cfg_.tca_layers; ++l) {
    torch::Tensor a = ln1_[l]->as<torch::nn::LayerNorm>()->forward(h);
    auto qkv = qkv_[l]->as<torch::nn::Linear>()->forward(a).view({P, 3, nh, 1, dh}).unbind(1);
    // Append this token's key/value to the cache; attend over all tokens so far (causal).
    s.keys[l] = s.keys[l].defined() ? torch::cat({s.keys[l], qkv[1]}, 2) : qkv[1];
    s.values[l] = s.values[l].defined() ? torch::cat({s.values[l], qkv[2]}, 2) : qkv[2];
    torch::Tensor att = torch::matmul(qkv[0], s.keys[l].transpose(-2, -1)) /
                        std::sqrt(static_cast<double>(dh));  // [P, nh, 1, t]
    torch::Tensor o = torch::matmul(torch::softmax(att, -1), s.values[l]).view({P, d});
    h = h + proj_[l]->as<torch::nn::Linear>()->forward(o);
    torch::Tensor m = ln2_[l]->as<torch::nn::LayerNorm>()->forward(h);
    h = h + fc2_[l]->as<torch::nn::Linear>()->forward(
                exact_gelu(fc1_[l]->as<torch::nn::Linear>()->forward(m)));
  }
  return ln_out_->forward(h);
}

std::pair<torch::Tensor, torch::Tensor> ChannelTransformerImpl::predict(State& s) {
  const int k = s.next_slice;
  if (k >= cfg_.slices) throw std::logic_error("T-CA: all slices already predicted");
  torch::Tensor tok;
  if (k == 0) {
    // The hyperprior token opens the sequence; slice 0 is predicted from it alone.
    tok = hyper_in_->forward(s.hyper) + slice_embed_[0];
  } else {
    torch::Tensor prev = slice_in_->forward(s.decoded.back());  // [B, d, H, W]
    tok = prev.permute({0, 2, 3, 1}).reshape({s.B * s.H * s.W, cfg_.tca_dim}) + slice_embed_[k];
  }
  s.out = run_layers(s, tok);
  const int S = cfg_.slice_channels();
  torch::Tensor params = head_->forward(s.out).view({s.B, s.H, s.W, 2 * S}).permute({0, 3, 1, 2});
  torch::Tensor mean = params.slice(1, 0, S);
  torch::Tensor scale = F::softplus(params.slice(1, S, 2 * S));
  return {mean, scale};
}

torch::Tensor ChannelTransformerImpl::commit(State& s, const torch::Tensor& y_hat_slice,
                                             double grid) {
  const int S = cfg_.slice_channels();
  torch::Tensor y_tok = y_hat_slice.permute({0, 2, 3, 1}).reshape({s.B * s.H * s.W, S});
  torch::Tensor r = lrp2_->forward(exact_gelu(lrp1_->forward(torch::cat({s.out, y_tok}, 1))));
  r = 0.5 * torch::tanh(r).view({s.B, s.H, s.W, S}).permute({0, 3, 1, 2});
  if (grid > 0) r = torch::round(r * grid) / grid;
  torch::Tensor refined = y_hat_slice + r;
  s.decoded.push_back(refined);
  ++s.next_slice;
  return refined;
}

// ---------------------------------------------------------------------------------------------
// The codec

namespace {
torch::nn::Functional gelu_layer() {
  return torch::nn::Functional([](torch::Tensor t) { return exact_gelu(t); });
}
std::vector<WindowShape> fdwa_windows(const FatConfig& c) {
  const int s = c.win_small, L = c.win_large;
  return {{s, s}, {L, L}, {s, L}, {L, s}};
}
}  // namespace

FatCodecImpl::FatCodecImpl(const FatConfig& cfg) : cfg_(cfg) {
  const int N = cfg.N, M = cfg.M, Mm = cfg.main_channels();
  const auto win = fdwa_windows(cfg);
  torch::nn::Sequential ga;
  ga->push_back(conv(3, N, 5, 2));
  ga->push_back(SimpleGdn(N, false));
  ga->push_back(conv(N, N, 3, 2));
  ga->push_back(SimpleGdn(N, false));
  ga->push_back(ResBlock(N));
  ga->push_back(conv(N, N, 3, 2));
  for (int i = 0; i < cfg.depth_n; ++i)
    ga->push_back(FatBlock(N, cfg.heads_n, win, i % 2 == 1, cfg.ffn_ratio, cfg.fft_patch));
  g_a_split_ = ga->size();  // the stride-8 features
  ga->push_back(conv(N, Mm, 3, 2));
  for (int i = 0; i < cfg.depth_m; ++i)
    ga->push_back(FatBlock(Mm, cfg.heads_m, win, i % 2 == 1, cfg.ffn_ratio, cfg.fft_patch));
  g_a_ = register_module("g_a", ga);

  torch::nn::Sequential gs;
  for (int i = 0; i < cfg.depth_m; ++i)
    gs->push_back(FatBlock(Mm, cfg.heads_m, win, i % 2 == 1, cfg.ffn_ratio, cfg.fft_patch));
  gs->push_back(Upsample(Mm, N));
  g_s_split_ = gs->size();  // the stride-8 features
  for (int i = 0; i < cfg.depth_n; ++i)
    gs->push_back(FatBlock(N, cfg.heads_n, win, i % 2 == 1, cfg.ffn_ratio, cfg.fft_patch));
  // The last two stages run at half width: at stride 2 a full-width residual block alone
  // cost half of the decoder's time on a 768x512 image (measured), for little quality.
  gs->push_back(Upsample(N, N));
  gs->push_back(ResBlock(N));
  gs->push_back(Upsample(N, N / 2));
  gs->push_back(ResBlock(N / 2));
  gs->push_back(Upsample(N / 2, 3));
  g_s_ = register_module("g_s", gs);
  if (cfg.detail > 0) {
    g_a_detail_ = register_module("g_a_detail", conv(N, cfg.detail, 3, 2));
    g_s_detail_ = register_module("g_s_detail", Upsample(cfg.detail, N));
    // The branch starts silent: a migrated model reconstructs as before until it learns to use it.
    torch::NoGradGuard ng;
    for (auto& p : g_s_detail_->parameters()) p.zero_();
  }

  torch::nn::Sequential ha;
  ha->push_back(conv(M, N, 3));
  ha->push_back(gelu_layer());
  ha->push_back(conv(N, N, 3, 2));
  ha->push_back(gelu_layer());
  ha->push_back(conv(N, cfg.Nz, 3, 2));
  h_a_ = register_module("h_a", ha);

  torch::nn::Sequential hs;
  hs->push_back(conv(cfg.Nz, N, 3));
  hs->push_back(gelu_layer());
  hs->push_back(Upsample(N, N));
  hs->push_back(gelu_layer());
  hs->push_back(Upsample(N, N));
  hs->push_back(gelu_layer());
  hs->push_back(conv(N, cfg.hyper_ch, 3));
  h_s_ = register_module("h_s", hs);

  prior_ = register_module("prior", FactorizedPrior(cfg.Nz));
  tca_ = register_module("tca", ChannelTransformer(cfg));

  // Gains start at the high-rate optimum for uniform quantization, step ~ 1/sqrt(lambda),
  // so every anchor begins near its own rate.
  torch::Tensor lg = torch::zeros({cfg.num_gains, M});
  const double mid = 0.5 * (std::log(cfg.lambda_min) + std::log(cfg.lambda_max));
  for (int i = 0; i < cfg.num_gains; ++i) {
    const double q = static_cast<double>(i) / (cfg.num_gains - 1);
    lg[i].fill_(0.5 * (std::log(cfg.lambda_for(q)) - mid));
  }
  log_gain_ = register_parameter("log_gain", lg.clone());
  log_inv_gain_ = register_parameter("log_inv_gain", -lg);
}

void FatCodecImpl::extend_gains(const FatConfig& to, int below, int above,
                                torch::optim::Adam* opt) {
  if (below < 0 || above < 0 || to.num_gains != cfg_.num_gains + below + above)
    throw std::invalid_argument("extend_gains: anchor counts do not match the configurations");
  // One anchor step in log lambda; the high-rate optimum has log gain = 0.5 log lambda + c.
  const double half_step =
      0.5 * (std::log(to.lambda_max) - std::log(to.lambda_min)) / (to.num_gains - 1);
  auto extend = [&](const torch::Tensor& rows, double slope) {
    std::vector<torch::Tensor> parts;
    const torch::Tensor first = rows.slice(0, 0, 1), last = rows.slice(0, -1);
    for (int k = below; k >= 1; --k) parts.push_back(first - slope * k);
    parts.push_back(rows);
    for (int k = 1; k <= above; ++k) parts.push_back(last + slope * k);
    return torch::cat(parts, 0);
  };
  // Moments of the new rows: copies of the end rows (slope 0).
  auto extend_moments = [&](const torch::Tensor& p) {
    if (!opt) return;
    auto it = opt->state().find(p.unsafeGetTensorImpl());
    if (it == opt->state().end()) return;  // no step taken yet
    auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
    st.exp_avg(extend(st.exp_avg(), 0.0));
    st.exp_avg_sq(extend(st.exp_avg_sq(), 0.0));
    if (st.max_exp_avg_sq().defined()) st.max_exp_avg_sq(extend(st.max_exp_avg_sq(), 0.0));
  };
  torch::NoGradGuard ng;
  extend_moments(log_gain_);
  extend_moments(log_inv_gain_);
  for (torch::Tensor* p : {&log_gain_, &log_inv_gain_}) p->mutable_grad() = torch::Tensor();
  log_gain_.set_data(extend(log_gain_.detach(), half_step));
  log_inv_gain_.set_data(extend(log_inv_gain_.detach(), -half_step));
  cfg_ = to;
}

bool FatConfig::gain_extension(const FatConfig& from, const FatConfig& to, int* below,
                               int* above) {
  FatConfig same = to;
  same.num_gains = from.num_gains;
  same.lambda_min = from.lambda_min;
  same.lambda_max = from.lambda_max;
  if (same.serialize() != from.serialize()) return false;
  const double step_from =
      (std::log(from.lambda_max) - std::log(from.lambda_min)) / (from.num_gains - 1);
  const double step_to = (std::log(to.lambda_max) - std::log(to.lambda_min)) / (to.num_gains - 1);
  if (std::abs(step_to / step_from - 1) > 0.05) return false;
  const double b = (std::log(from.lambda_min) - std::log(to.lambda_min)) / step_from;
  const double a = (std::log(to.lambda_max) - std::log(from.lambda_max)) / step_from;
  const long bi = std::lround(b), ai = std::lround(a);
  if (bi < 0 || ai < 0 || std::abs(b - bi) > 0.25 || std::abs(a - ai) > 0.25 ||
      from.num_gains + bi + ai != to.num_gains)
    return false;
  *below = static_cast<int>(bi);
  *above = static_cast<int>(ai);
  return true;
}

bool FatConfig::latent_extension(const FatConfig& from, const FatConfig& to) {
  if (to.detail <= from.detail || to.main_channels() != from.main_channels() ||
      to.slice_channels() != from.slice_channels() || to.M % to.slices || from.M % from.slices)
    return false;
  FatConfig same = to;
  same.M = from.M;
  same.detail = from.detail;
  same.slices = from.slices;
  return same.serialize() == from.serialize();
}

void FatCodecImpl::adopt(FatCodecImpl& old) {
  if (!FatConfig::latent_extension(old.config(), cfg_))
    throw std::invalid_argument("adopt: '" + cfg_.serialize() + "' does not extend '" +
                                old.config().serialize() + "'");
  torch::NoGradGuard ng;
  const int64_t M0 = old.config().M;
  auto theirs = old.named_parameters(true);
  for (auto& mine : named_parameters(true)) {
    const torch::Tensor* src = theirs.find(mine.key());
    if (!src) continue;  // the detail branch: new
    torch::Tensor dst = mine.value();
    const torch::Tensor s = src->to(dst.device());
    if (s.sizes() == dst.sizes()) {
      dst.copy_(s);
    } else if (mine.key() == "log_gain" || mine.key() == "log_inv_gain") {
      dst.slice(1, 0, M0).copy_(s);
      dst.slice(1, M0).copy_(s.mean(1, true).expand({s.size(0), dst.size(1) - M0}));
    } else if (mine.key() == "h_a.0.weight") {
      dst.zero_();
      dst.slice(1, 0, M0).copy_(s);
    } else if (mine.key() == "tca.slice_embed") {
      dst.slice(0, 0, s.size(0)).copy_(s);
    } else {
      throw std::logic_error("adopt: no rule for " + mine.key());
    }
  }
  const auto their_buffers = old.named_buffers(true);
  for (auto& mine : named_buffers(true))
    if (const torch::Tensor* src = their_buffers.find(mine.key()))
      if (src->sizes() == mine.value().sizes()) mine.value().copy_(*src);
}

namespace {
// Exponential interpolation between the gain anchors: [num_gains, M] at q [B] -> [B, M, 1, 1].
torch::Tensor interpolate_gain(const torch::Tensor& log_g, const torch::Tensor& q) {
  const int64_t n = log_g.size(0);
  torch::Tensor pos = q.clamp(0.0, 1.0).to(log_g.dtype()) * static_cast<double>(n - 1);
  torch::Tensor lo = pos.floor().clamp(0, n - 2).to(torch::kLong);
  torch::Tensor frac = (pos - lo.to(pos.dtype())).unsqueeze(1);
  torch::Tensor g = log_g.index_select(0, lo) * (1 - frac) + log_g.index_select(0, lo + 1) * frac;
  return torch::exp(g).unsqueeze(-1).unsqueeze(-1);
}
}  // namespace

torch::Tensor FatCodecImpl::gain(const torch::Tensor& q) { return interpolate_gain(log_gain_, q); }
torch::Tensor FatCodecImpl::inverse_gain(const torch::Tensor& q) {
  return interpolate_gain(log_inv_gain_, q);
}

torch::Tensor FatCodecImpl::analysis(const torch::Tensor& x) {
  if (cfg_.detail == 0) return g_a_->forward(x);
  torch::Tensor f = x;
  auto it = g_a_->begin();
  for (size_t i = 0; i < g_a_split_; ++i, ++it) f = it->forward(f);
  torch::Tensor y = f;
  for (; it != g_a_->end(); ++it) y = it->forward(y);
  return torch::cat({y, g_a_detail_->forward(f)}, 1);
}

torch::Tensor FatCodecImpl::synthesis(const torch::Tensor& y_hat) {
  if (cfg_.detail == 0) return g_s_->forward(y_hat);
  const int64_t Mm = cfg_.main_channels();
  torch::Tensor f = y_hat.slice(1, 0, Mm);
  auto it = g_s_->begin();
  for (size_t i = 0; i < g_s_split_; ++i, ++it) f = it->forward(f);
  f = f + g_s_detail_->forward(y_hat.slice(1, Mm));
  for (; it != g_s_->end(); ++it) f = it->forward(f);
  return f;
}
torch::Tensor FatCodecImpl::hyper_analysis(const torch::Tensor& y) { return h_a_->forward(y); }
torch::Tensor FatCodecImpl::hyper_synthesis(const torch::Tensor& z_hat) {
  return h_s_->forward(z_hat);
}

namespace {
torch::Tensor ste_round(const torch::Tensor& x) { return x + (torch::round(x) - x).detach(); }
torch::Tensor bits_per_image(const torch::Tensor& lik) {
  return -torch::log2(lik).flatten(1).sum(1);
}
}  // namespace

FatCodecImpl::TrainOutput FatCodecImpl::forward_train(const torch::Tensor& x,
                                                      const torch::Tensor& q, bool use_noise) {
  // Evaluation measures the rate of the actually rounded values instead of noisy proxies.
  auto perturb = [&](const torch::Tensor& t, const torch::Tensor& center) {
    return use_noise ? t + torch::rand_like(t) - 0.5 : torch::round(t - center) + center;
  };
  torch::Tensor y = analysis(x) * gain(q);
  torch::Tensor z = hyper_analysis(y);
  torch::Tensor med = prior_->medians().view({1, -1, 1, 1});
  torch::Tensor z_noisy = perturb(z, med);
  torch::Tensor z_hat = ste_round(z - med) + med;
  torch::Tensor bits_z = bits_per_image(prior_->likelihood(z_noisy));

  auto state = tca_->begin(hyper_synthesis(z_hat));
  const int S = cfg_.slice_channels();
  std::vector<torch::Tensor> y_hat_slices;
  torch::Tensor bits_y = torch::zeros({x.size(0)}, x.options());
  for (int k = 0; k < cfg_.slices; ++k) {
    torch::Tensor yk = y.slice(1, k * S, (k + 1) * S);
    auto [mean, scale] = tca_->predict(state);
    torch::Tensor noisy_residual = perturb(yk - mean, torch::zeros_like(yk));
    bits_y = bits_y + bits_per_image(gaussian_likelihood(noisy_residual, scale));
    y_hat_slices.push_back(tca_->commit(state, ste_round(yk - mean) + mean));
  }
  torch::Tensor y_hat = torch::cat(y_hat_slices, 1);
  torch::Tensor x_hat = synthesis(y_hat * inverse_gain(q));
  return {x_hat, bits_y, bits_z};
}

FatCodecImpl::TrainOutput FatCodecImpl::forward_latent(const torch::Tensor& y,
                                                       const torch::Tensor& q) {
  torch::Tensor z = hyper_analysis(y);
  torch::Tensor med = prior_->medians().view({1, -1, 1, 1});
  torch::Tensor z_hat = ste_round(z - med) + med;
  torch::Tensor bits_z = bits_per_image(prior_->likelihood(z_hat));
  auto state = tca_->begin(hyper_synthesis(z_hat));
  const int S = cfg_.slice_channels();
  std::vector<torch::Tensor> y_hat_slices;
  torch::Tensor bits_y = torch::zeros({y.size(0)}, y.options());
  for (int k = 0; k < cfg_.slices; ++k) {
    torch::Tensor yk = y.slice(1, k * S, (k + 1) * S);
    auto [mean, scale] = tca_->predict(state);
    torch::Tensor rq = ste_round(yk - mean);
    bits_y = bits_y + bits_per_image(gaussian_likelihood(rq, scale));
    y_hat_slices.push_back(tca_->commit(state, rq + mean));
  }
  torch::Tensor x_hat = synthesis(torch::cat(y_hat_slices, 1) * inverse_gain(q));
  return {x_hat, bits_y, bits_z};
}

// ---------------------------------------------------------------------------------------------
// The frozen prior (the weight-file contract)

void freeze_prior(FactorizedPrior prior, WeightFile& w) {
  const auto tables = prior->tabulate();
  const int C = static_cast<int>(tables.pmfs.size());
  size_t max_len = 0;
  for (const auto& p : tables.pmfs) max_len = std::max(max_len, p.size() + 1);
  torch::Tensor cdf = torch::zeros({C, static_cast<int64_t>(max_len)}, torch::kInt32);
  torch::Tensor len = torch::zeros({C}, torch::kInt32), off = torch::zeros({C}, torch::kInt32);
  for (int c = 0; c < C; ++c) {
    const auto q = entropy::quantize_pmf(tables.pmfs[c]);
    for (size_t i = 0; i < q.size(); ++i) cdf[c][i] = static_cast<int32_t>(q[i]);
    len[c] = static_cast<int32_t>(q.size());
    off[c] = tables.offsets[c];
  }
  w.tensors.emplace_back("entropy.z_cdf", cdf);
  w.tensors.emplace_back("entropy.z_cdf_len", len);
  w.tensors.emplace_back("entropy.z_offset", off);
}

FrozenPrior read_frozen_prior(const WeightFile& w, int channels) {
  const torch::Tensor* cdf = w.find("entropy.z_cdf");
  const torch::Tensor* len = w.find("entropy.z_cdf_len");
  const torch::Tensor* off = w.find("entropy.z_offset");
  if (!cdf || !len || !off || cdf->dim() != 2 || cdf->size(0) != channels ||
      len->numel() != channels || off->numel() != channels ||
      cdf->scalar_type() != torch::kInt32 || len->scalar_type() != torch::kInt32 ||
      off->scalar_type() != torch::kInt32)
    throw WeightError("missing or malformed hyper-latent tables");
  const torch::Tensor c = cdf->contiguous(), l = len->contiguous(), o = off->contiguous();
  FrozenPrior f;
  for (int ch = 0; ch < channels; ++ch) {
    const int n = l.data_ptr<int32_t>()[ch];
    if (n < 3 || n > c.size(1)) throw WeightError("malformed hyper-latent table");
    const int32_t* row = c.data_ptr<int32_t>() + ch * c.size(1);
    f.cdfs.emplace_back(row, row + n);
    f.offsets.push_back(o.data_ptr<int32_t>()[ch]);
  }
  return f;
}

}  // namespace lucid::models
