#include "lucid/models/codiff.h"
#include "lucid/models/config_text.h"

#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

namespace lucid::models {

namespace F = torch::nn::functional;

namespace {

torch::nn::Conv2d conv3(int in, int out, int stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

constexpr double kSlope = 0.1;
torch::Tensor act(const torch::Tensor& x) {
  return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(kSlope));
}
torch::nn::LeakyReLU lrelu() {
  return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(kSlope));
}

void zero_linear(torch::nn::Linear& l) {
  torch::NoGradGuard ng;
  l->weight.zero_();
  l->bias.zero_();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configuration

CodiffConfig CodiffConfig::small() { return CodiffConfig{}; }

CodiffConfig CodiffConfig::tiny() {
  CodiffConfig c;
  c.name = "tiny";
  c.cave_ch = 8;
  c.emb_dim = 8;
  c.dec_ch = 4;
  c.c1 = 8;
  c.c2 = 12;
  c.c3 = 16;
  c.mid = 1;
  c.cond_dim = 16;
  c.t_freqs = 2;
  return c;
}

CodiffConfig CodiffConfig::by_name(const std::string& name) {
  if (name == "small") return small();
  if (name == "tiny") return tiny();
  throw std::invalid_argument("unknown restorer configuration '" + name +
                              "' (expected small or tiny)");
}

std::string CodiffConfig::serialize() const {
  std::ostringstream s;
  s.precision(17);
  s << "name=" << name << ";cave_ch=" << cave_ch << ";emb_dim=" << emb_dim
    << ";dec_ch=" << dec_ch << ";c1=" << c1 << ";c2=" << c2 << ";c3=" << c3
    << ";enc1=" << enc1 << ";enc2=" << enc2 << ";mid=" << mid << ";dec2=" << dec2
    << ";dec1=" << dec1 << ";cond_dim=" << cond_dim << ";t_freqs=" << t_freqs
    << ";t_star=" << t_star << ";sigma_max=" << sigma_max;
  return s.str();
}

CodiffConfig CodiffConfig::parse(const std::string& text) {
  const auto kv = parse_config_text(text);
  CodiffConfig c;
  auto get = [&](const char* k) -> const std::string& { return config_value(kv, k); };
  c.name = get("name");
  for (auto [k, v] : {std::pair<const char*, int*>{"cave_ch", &c.cave_ch}, {"emb_dim", &c.emb_dim},
                      {"dec_ch", &c.dec_ch}, {"c1", &c.c1}, {"c2", &c.c2}, {"c3", &c.c3},
                      {"enc1", &c.enc1}, {"enc2", &c.enc2}, {"mid", &c.mid}, {"dec2", &c.dec2},
                      {"dec1", &c.dec1}, {"cond_dim", &c.cond_dim}, {"t_freqs", &c.t_freqs}})
    *v = std::stoi(get(k));
  c.t_star = std::stod(get("t_star"));
  c.sigma_max = std::stod(get("sigma_max"));
  for (int v : {c.cave_ch, c.emb_dim, c.dec_ch, c.c1, c.c2, c.c3, c.cond_dim, c.t_freqs})
    if (v < 1 || v > 4096) throw std::invalid_argument("restorer configuration out of range");
  for (int v : {c.enc1, c.enc2, c.mid, c.dec2, c.dec1})
    if (v < 0 || v > 64) throw std::invalid_argument("restorer configuration out of range");
  if (!(c.t_star >= 0 && c.t_star < 1) || !(c.sigma_max >= 0))
    throw std::invalid_argument("restorer configuration out of range");
  return c;
}

double CodiffConfig::sigma(double t) const {
  if (t <= t_star) return 0.0;
  return sigma_max * (t - t_star) / (1.0 - t_star);
}

// ---------------------------------------------------------------------------------------------
// CaVE

CaveImpl::CaveImpl(const CodiffConfig& cfg) : cfg_(cfg) {
  const int h = std::max(1, cfg.cave_ch / 2), c = cfg.cave_ch, d = 2 * cfg.cave_ch;
  const int pooled = d + 64;  // learned features + block-DCT statistics
  // Full-resolution first layer so 1-pixel block edges are seen, then stride 2 down to 1/16.
  enc_ = register_module("enc", torch::nn::Sequential(conv3(3, h), lrelu(), conv3(h, c, 2),
                                                      lrelu(), conv3(c, c, 2), lrelu(),
                                                      conv3(c, d, 2), lrelu(), conv3(d, d, 2),
                                                      lrelu()));
  proj1_ = register_module("proj1", torch::nn::Linear(pooled, 2 * cfg.emb_dim));
  proj2_ = register_module("proj2", torch::nn::Linear(2 * cfg.emb_dim, cfg.emb_dim));
  qf_head_ = register_module("qf_head", torch::nn::Linear(cfg.emb_dim, 1));
  dec_in_ = register_module("dec_in", conv3(3, cfg.dec_ch));
  dec_film_ = register_module("dec_film", torch::nn::Linear(cfg.emb_dim, 2 * cfg.dec_ch));
  dec_mid_ = register_module("dec_mid", conv3(cfg.dec_ch, cfg.dec_ch));
  dec_out_ = register_module("dec_out", conv3(cfg.dec_ch, 3));
  torch::NoGradGuard ng;
  dec_out_->weight.zero_();
  dec_out_->bias.zero_();
  qf_head_->bias.fill_(0.5);
}

// Orthonormal 8x8 DCT-II basis as conv filters [64, 1, 8, 8].
torch::Tensor dct8_filters() {
  torch::Tensor f = torch::zeros({64, 1, 8, 8});
  auto a = f.accessor<float, 4>();
  for (int v = 0; v < 8; ++v)
    for (int u = 0; u < 8; ++u)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
          const double cv = v ? std::sqrt(2.0 / 8) : std::sqrt(1.0 / 8);
          const double cu = u ? std::sqrt(2.0 / 8) : std::sqrt(1.0 / 8);
          a[v * 8 + u][0][y][x] = static_cast<float>(
              cv * cu * std::cos((2 * y + 1) * v * M_PI / 16) * std::cos((2 * x + 1) * u * M_PI / 16));
        }
  return f;
}

torch::Tensor CaveImpl::pooled_features(const torch::Tensor& x) {
  torch::Tensor learned = enc_->forward(x * 2 - 1).mean({2, 3});
  // Block-DCT statistics of the luma on the 8x8 grid: quantization empties the high
  // frequencies, so the mean log magnitude per frequency tracks the quality factor directly.
  torch::Tensor y = (x.select(1, 0) * 0.299 + x.select(1, 1) * 0.587 + x.select(1, 2) * 0.114)
                        .unsqueeze(1) * 255.0;
  const int64_t ph = (8 - y.size(2) % 8) % 8, pw = (8 - y.size(3) % 8) % 8;
  if (ph || pw) y = F::pad(y, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
  if (!dct_.defined() || dct_.device() != x.device() || dct_.scalar_type() != x.scalar_type())
    dct_ = dct8_filters().to(x.device(), x.scalar_type());
  torch::Tensor stats = torch::log1p(torch::conv2d(y, dct_, {}, 8).abs()).mean({2, 3});
  return torch::cat({learned, stats}, 1);
}

torch::Tensor CaveImpl::embed(const torch::Tensor& pooled) {
  return proj2_->forward(act(proj1_->forward(pooled)));
}

torch::Tensor CaveImpl::predict_qf(const torch::Tensor& emb) {
  return qf_head_->forward(emb).squeeze(1);
}

torch::Tensor CaveImpl::reconstruct(const torch::Tensor& x, const torch::Tensor& emb) {
  auto ss = dec_film_->forward(emb).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
  torch::Tensor h = dec_in_->forward(x * 2 - 1);
  h = act(h * (1 + ss[0]) + ss[1]);
  h = act(dec_mid_->forward(h));
  return x + dec_out_->forward(h);
}

// ---------------------------------------------------------------------------------------------
// U-Net

RestoreUNetImpl::RestoreUNetImpl(const CodiffConfig& cfg) {
  stem_ = register_module("stem", conv3(12, cfg.c1));
  down1_ = register_module("down1", conv3(cfg.c1, cfg.c2, 2));
  down2_ = register_module("down2", conv3(cfg.c2, cfg.c3, 2));
  up2_ = register_module("up2", conv3(cfg.c3, 4 * cfg.c2));
  up1_ = register_module("up1", conv3(cfg.c2, 4 * cfg.c1));
  out_ = register_module("out", conv3(cfg.c1, 12));
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
  out_->weight.zero_();  // identity at init: x0 = x_t
  out_->bias.zero_();
}

void RestoreUNetImpl::randomize_output(double std) {
  torch::NoGradGuard ng;
  out_->weight.normal_(0.0, std);
  out_->bias.normal_(0.0, std);
}

torch::Tensor RestoreUNetImpl::forward(const torch::Tensor& x_t, const torch::Tensor& cond) {
  auto run = [&](torch::nn::ModuleList& list, torch::Tensor h) {
    for (auto& m : *list) h = m->as<FilmResBlock>()->forward(h, cond);
    return h;
  };
  torch::Tensor s1 = run(enc1_, stem_->forward(torch::pixel_unshuffle(x_t * 2 - 1, 2)));
  torch::Tensor s2 = run(enc2_, act(down1_->forward(s1)));
  torch::Tensor h = run(mid_, act(down2_->forward(s2)));
  h = run(dec2_, torch::pixel_shuffle(up2_->forward(h), 2) + s2);
  h = run(dec1_, torch::pixel_shuffle(up1_->forward(h), 2) + s1);
  return x_t + torch::pixel_shuffle(out_->forward(act(h)), 2);
}

// ---------------------------------------------------------------------------------------------
// Whole model

CodiffImpl::CodiffImpl(const CodiffConfig& cfg) : cfg_(cfg) {
  cave_ = register_module("cave", Cave(cfg));
  unet_ = register_module("unet", RestoreUNet(cfg));
  cond1_ = register_module("cond1",
                           torch::nn::Linear(cfg.emb_dim + 2 + 2 * cfg.t_freqs, cfg.cond_dim));
  cond2_ = register_module("cond2", torch::nn::Linear(cfg.cond_dim, cfg.cond_dim));
}

torch::Tensor CodiffImpl::condition(const torch::Tensor& t, const torch::Tensor& emb,
                                    const torch::Tensor& qf01, const torch::Tensor& known) {
  std::vector<torch::Tensor> parts = {emb, qf01.unsqueeze(1), known.unsqueeze(1)};
  for (int k = 0; k < cfg_.t_freqs; ++k) {
    torch::Tensor a = t.unsqueeze(1) * (M_PI * std::pow(2.0, k));
    parts.push_back(torch::sin(a));
    parts.push_back(torch::cos(a));
  }
  torch::Tensor h = F::silu(cond1_->forward(torch::cat(parts, 1)));
  return F::silu(cond2_->forward(h));
}

torch::Tensor CodiffImpl::restore(const torch::Tensor& x, const torch::Tensor& emb,
                                  const torch::Tensor& qf01, const torch::Tensor& known) {
  torch::Tensor t = torch::full({x.size(0)}, cfg_.t_star, x.options());
  return unet_->forward(x, condition(t, emb, qf01, known));
}

}  // namespace lucid::models
