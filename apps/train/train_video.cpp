// lucid-train video: the video restorer on clean / codec-decoded frame pairs.
//
// Data (data_scripts/build_video_pairs.py): each sequence folder holds seq.txt, decoded.yuv and
// qp.txt (the per-frame QPs that `lucid-video info` reads from the stream); the clean frames are
// shared per source. Everything is 8-bit 4:2:0 and is held in memory as uint8.
// A training sample is a random crop at a random frame with its whole window (near frames
// clamped at the clip's ends, the far frame and its weight as at inference, the look-around
// thumbnail of the whole decoded frame), the stream QP (or, with --no-qp-prob, none).
// Loss: Charbonnier on the luma planes plus half of it on chroma. Validation: ΔPSNR-Y of every
// --val-stride-th frame of each validation sequence (whole frames), averaged per sequence, then
// per codec/QP setting; the best checkpoint has the best mean ΔPSNR-Y over the settings.
#include "train_video.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "lucid/models/device.h"
#include "lucid/models/diqp.h"
#include "lucid/models/weights.h"
#include "lucid/video_restore/diqp_tensors.h"
#include "flags.h"
#include "train_common.h"

namespace fs = std::filesystem;

namespace lucid::train {

namespace {

using models::DiqpConfig;
using models::QpScale;
namespace vr = video_restore;

struct Sequence {
  std::string name, setting, source;
  int W = 0, H = 0, frames = 0;
  QpScale scale = QpScale::kUnknown;
  torch::Tensor clean, decoded;  // uint8 [F, W*H*3/2]
  std::vector<double> qp;
};

std::map<std::string, std::string> read_kv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::map<std::string, std::string> kv;
  std::string line;
  while (std::getline(f, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

torch::Tensor read_yuv(const std::string& path, int W, int H, int frames) {
  const int64_t fsz = static_cast<int64_t>(W) * H * 3 / 2;
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  torch::Tensor t = torch::empty({frames, fsz}, torch::kUInt8);
  f.read(reinterpret_cast<char*>(t.data_ptr<uint8_t>()), frames * fsz);
  if (f.gcount() != frames * fsz)
    throw std::runtime_error(path + ": expected " + std::to_string(frames) + " frames of " +
                             std::to_string(W) + "x" + std::to_string(H));
  return t;
}

// Loads the sequences of a list (paths relative to the list's folder); clean frames are read
// once per source.
std::vector<Sequence> load_sequences(const std::string& list) {
  std::ifstream f(list);
  if (!f) throw std::runtime_error("cannot read " + list + " (run data_scripts/build_video_pairs.py)");
  const fs::path base = fs::path(list).parent_path();
  std::map<std::string, torch::Tensor> cleans;
  std::vector<Sequence> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    const fs::path dir = base / line;
    auto kv = read_kv((dir / "seq.txt").string());
    Sequence s;
    s.name = line;
    s.setting = kv.at("setting");
    s.source = kv.at("source");
    s.W = std::stoi(kv.at("width"));
    s.H = std::stoi(kv.at("height"));
    s.frames = std::stoi(kv.at("frames"));
    if (s.W % 2 || s.H % 2 || s.W < 16 || s.H < 16 || s.frames < 1)
      throw std::runtime_error(dir.string() + ": bad sequence size");
    s.scale = kv.at("codec") == "av1" ? QpScale::kAv1 : QpScale::kH26x;
    const std::string clean = (base / kv.at("clean")).string();
    if (!cleans.count(clean)) cleans[clean] = read_yuv(clean, s.W, s.H, s.frames);
    s.clean = cleans[clean];
    s.decoded = read_yuv((dir / "decoded.yuv").string(), s.W, s.H, s.frames);
    std::ifstream q(dir / "qp.txt");
    for (double v; q >> v;) s.qp.push_back(v);
    if (static_cast<int>(s.qp.size()) != s.frames) throw std::runtime_error(dir.string() + ": qp.txt does not match the frames");
    out.push_back(std::move(s));
  }
  if (out.empty()) throw std::runtime_error(list + ": no sequences");
  return out;
}

// Planes of frame t of a sequence (floats in [0, 1]), optionally a crop (x, y, S: even).
std::array<torch::Tensor, 3> yuv(const torch::Tensor& frames, int t, int W, int H) {
  const torch::Tensor f = frames[t];
  const int64_t n = static_cast<int64_t>(W) * H, c = n / 4;
  return {f.narrow(0, 0, n).view({H, W}).to(torch::kFloat32) / 255.0,
          f.narrow(0, n, c).view({H / 2, W / 2}).to(torch::kFloat32) / 255.0,
          f.narrow(0, n + c, c).view({H / 2, W / 2}).to(torch::kFloat32) / 255.0};
}

torch::Tensor crop_planes(const std::array<torch::Tensor, 3>& p, int x, int y, int w, int h, int Hp, int Wp,
                          bool flip) {
  torch::Tensor Y = p[0].narrow(0, y, h).narrow(1, x, w);
  torch::Tensor U = p[1].narrow(0, y / 2, h / 2).narrow(1, x / 2, w / 2);
  torch::Tensor V = p[2].narrow(0, y / 2, h / 2).narrow(1, x / 2, w / 2);
  if (flip) {
    Y = Y.flip(1);
    U = U.flip(1);
    V = V.flip(1);
  }
  return vr::planes_from_yuv(Y, U, V, Hp, Wp);
}

struct Sample {
  models::DiqpImpl::Input in;
  torch::Tensor target;  // [B, 6, h, w]
};

// One window (frames, far frame and weight, context, level) at frame c of sequence s; the crop
// rectangle (x, y, w, h) padded to Hp x Wp.
void window_at(const DiqpConfig& cfg, const Sequence& s, int c, int x, int y, int w, int h, int Hp, int Wp,
               bool flip, bool with_qp, std::vector<torch::Tensor>* frames, torch::Tensor* far, double* far_w,
               torch::Tensor* context, double* level, int64_t* scale, torch::Tensor* target) {
  auto clampf = [&](int t) { return std::clamp(t, 0, s.frames - 1); };
  for (int k = -cfg.behind; k <= cfg.ahead; ++k)
    frames->push_back(crop_planes(yuv(s.decoded, clampf(c + k), s.W, s.H), x, y, w, h, Hp, Wp, flip));
  const auto whole = yuv(s.decoded, c, s.W, s.H);
  const torch::Tensor thumb = vr::yuv_thumbnail(whole[0], whole[1], whole[2], cfg.ctx_size);
  *context = flip ? thumb.flip(2) : thumb;
  const int fi = clampf(c + cfg.far_ahead);
  const auto far_planes = yuv(s.decoded, fi, s.W, s.H);
  *far = crop_planes(far_planes, x, y, w, h, Hp, Wp, flip);
  *far_w = 0;
  if (cfg.far_ahead > 0) {
    const torch::Tensor ft = vr::yuv_thumbnail(far_planes[0], far_planes[1], far_planes[2], cfg.ctx_size);
    *far_w = models::far_weight(cfg, fi - c, thumb[0], ft[0]);
  }
  const QpScale sc = with_qp ? s.scale : QpScale::kUnknown;
  *level = models::qp_level(s.qp[c], sc);
  *scale = static_cast<int64_t>(sc);
  if (target) *target = crop_planes(yuv(s.clean, c, s.W, s.H), x, y, w, h, Hp, Wp, flip);
}

Sample make_batch(const DiqpConfig& cfg, const std::vector<Sequence>& seqs, const std::vector<double>& cum,
                  int B, int S, double no_qp_prob, std::mt19937_64& rng, torch::Device dev) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<torch::Tensor> frames, fars, ctxs, targets;
  std::vector<float> fw, lv;
  std::vector<int64_t> sc;
  for (int b = 0; b < B; ++b) {
    const double r = u(rng) * cum.back();
    const size_t si = std::min<size_t>(std::upper_bound(cum.begin(), cum.end(), r) - cum.begin(), seqs.size() - 1);
    const Sequence& s = seqs[si];
    const int c = static_cast<int>(u(rng) * s.frames) % s.frames;
    const int w = std::min(S, s.W), h = std::min(S, s.H);
    const int x = static_cast<int>(u(rng) * ((s.W - w) / 2 + 1)) * 2, y = static_cast<int>(u(rng) * ((s.H - h) / 2 + 1)) * 2;
    const bool flip = u(rng) < 0.5, with_qp = u(rng) >= no_qp_prob;
    std::vector<torch::Tensor> fr;
    torch::Tensor far, ctx, tgt;
    double far_w = 0, level = 0;
    int64_t scale = 0;
    window_at(cfg, s, c, x, std::min(y, s.H - h), w, h, S, S, flip, with_qp, &fr, &far, &far_w, &ctx, &level, &scale, &tgt);
    frames.push_back(torch::stack(fr));
    fars.push_back(far);
    ctxs.push_back(ctx);
    targets.push_back(tgt);
    fw.push_back(static_cast<float>(far_w));
    lv.push_back(static_cast<float>(level));
    sc.push_back(scale);
  }
  // Context thumbnails differ in size between sequences: bring them to the first one's size.
  const auto size0 = ctxs[0].sizes();
  for (auto& c : ctxs)
    if (c.sizes() != size0)
      c = torch::nn::functional::interpolate(
              c.unsqueeze(0), torch::nn::functional::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{size0[1], size0[2]})
                                  .mode(torch::kBilinear)
                                  .align_corners(false))
              .squeeze(0);
  Sample s;
  s.in.frames = torch::stack(frames).to(dev);
  s.in.far = torch::stack(fars).to(dev);
  s.in.context = torch::stack(ctxs).to(dev);
  s.in.far_w = torch::tensor(fw).to(dev);
  s.in.level = torch::tensor(lv).to(dev);
  s.in.scale = torch::tensor(sc).to(dev);
  s.target = torch::stack(targets).to(dev);
  return s;
}

torch::Tensor luma_of(const torch::Tensor& planes) {  // [B, 6, h, w] -> [B, 1, 2h, 2w]
  return torch::nn::functional::pixel_shuffle(planes.narrow(1, 0, 4), 2);
}

torch::Tensor charbonnier(const torch::Tensor& d) { return (d.pow(2) + 1e-6).sqrt().mean(); }

struct ValResult {
  std::map<std::string, double> gain;  // per setting kind (e.g. hevc_qp37), mean ΔPSNR-Y
  std::map<std::string, double> psnr_in;
  double mean_gain = 0;
};

std::string setting_kind(const std::string& setting) {  // "hevc_qp37_b0_k1000" -> "hevc_qp37"
  const auto a = setting.find('_');
  const auto b = setting.find('_', a + 1);
  return setting.substr(0, b);
}

ValResult validate(models::Diqp& model, const std::vector<Sequence>& val, int stride, int val_crop, torch::Device dev) {
  torch::NoGradGuard ng;
  model->eval();
  const DiqpConfig& cfg = model->config();
  std::map<std::string, std::vector<double>> gains, ins;
  for (const Sequence& s : val) {
    double g = 0, pin = 0;
    int n = 0;
    for (int c = 0; c < s.frames; c += stride) {
      int w = s.W, h = s.H, x = 0, y = 0;
      if (val_crop > 0) {
        w = std::min(val_crop, s.W);
        h = std::min(val_crop, s.H);
        x = (s.W - w) / 4 * 2;
        y = (s.H - h) / 4 * 2;
      }
      const int Hp = (h + 15) / 16 * 16, Wp = (w + 15) / 16 * 16;
      std::vector<torch::Tensor> fr;
      torch::Tensor far, ctx, tgt;
      double far_w = 0, level = 0;
      int64_t scale = 0;
      window_at(cfg, s, c, x, y, w, h, Hp, Wp, false, true, &fr, &far, &far_w, &ctx, &level, &scale, &tgt);
      models::DiqpImpl::Input in;
      in.frames = torch::stack(fr).unsqueeze(0).to(dev);
      in.far = far.unsqueeze(0).to(dev);
      in.context = ctx.unsqueeze(0).to(dev);
      in.far_w = torch::full({1}, far_w, in.frames.options());
      in.level = torch::full({1}, level, in.frames.options());
      in.scale = torch::full({1}, scale, torch::TensorOptions().dtype(torch::kLong).device(dev));
      const torch::Tensor out = model->forward(in).to(torch::kCPU);
      auto luma = [&](const torch::Tensor& p) {
        return luma_of(p.unsqueeze(0)).squeeze(0).squeeze(0).narrow(0, 0, h).narrow(1, 0, w);
      };
      const torch::Tensor ref = luma(tgt), dec = luma(fr[cfg.behind]);
      const torch::Tensor res = luma(out[0]).clamp(0, 1).mul(255).round().div(255);
      const double p_in = psnr_db(dec, ref);
      g += psnr_db(res, ref) - p_in;
      pin += p_in;
      ++n;
    }
    gains[setting_kind(s.setting)].push_back(g / n);
    ins[setting_kind(s.setting)].push_back(pin / n);
  }
  ValResult r;
  for (const auto& [k, v] : gains) {
    double m = 0, mi = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      m += v[i] / v.size();
      mi += ins[k][i] / v.size();
    }
    r.gain[k] = m;
    r.psnr_in[k] = mi;
    r.mean_gain += m / gains.size();
  }
  model->train();
  return r;
}

// The training loss of a batch's output error d = out - target (luma planes 0-3, chroma 4-5).
torch::Tensor video_loss(const std::string& kind, const torch::Tensor& d, const Sample& b,
                         const DiqpConfig& cfg) {
  if (kind == "mse")
    return 1000 * (d.narrow(1, 0, 4).pow(2).mean() + 0.5 * d.narrow(1, 4, 2).pow(2).mean());
  if (kind == "charbonnier")
    return charbonnier(d.narrow(1, 0, 4)) + 0.5 * charbonnier(d.narrow(1, 4, 2));
  // dpsnr: minus the PSNR gain of each crop over its decoded input, averaged over the batch,
  // as the benchmark averages gains (not errors) over clips and QPs. Under plain MSE the
  // high-QP crops, whose errors are largest, carry nearly all of the gradient and the low
  // QPs go unattended (the restorer lost 0.07 dB at HEVC QP 22).
  const torch::Tensor e = (b.in.frames.select(1, cfg.behind) - b.target).detach();
  auto per_crop = [](const torch::Tensor& t) { return t.pow(2).mean({1, 2, 3}); };
  auto db = [&](int64_t first, int64_t n) {
    const double eps = 1e-6;  // 60 dB: flat crops decoded almost exactly weigh no more
    return (10 / std::log(10.0)) * (torch::log(per_crop(d.narrow(1, first, n)) + eps) -
                                    torch::log(per_crop(e.narrow(1, first, n)) + eps))
                                       .mean();
  };
  return db(0, 4) + 0.5 * db(4, 2);
}

struct VideoStep {
  double loss = 0, gain_db = 0;  // gain: the batch's luma PSNR over its decoded input
};

// One optimizer step on a batch drawn from `train`.
VideoStep video_step(models::Diqp& model, torch::optim::Adam& opt,
                     const std::vector<torch::Tensor>& params, const VideoTrainOptions& o,
                     const DiqpConfig& cfg, const std::vector<Sequence>& train,
                     const std::vector<double>& cum, std::mt19937_64& rng, torch::Device dev) {
  Sample b = make_batch(cfg, train, cum, o.batch, o.crop, o.no_qp_prob, rng, dev);
  torch::Tensor d = model->forward(b.in) - b.target;
  torch::Tensor loss = video_loss(o.loss, d, b, cfg);
  opt.zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(params, o.clip);
  opt.step();
  torch::NoGradGuard ng;
  const torch::Tensor center = b.in.frames.select(1, cfg.behind);
  const double mse_in = (center - b.target).narrow(1, 0, 4).pow(2).mean().item<double>();
  const double mse_out = d.narrow(1, 0, 4).pow(2).mean().item<double>();
  return {loss.item<double>(), gain_db(mse_in, mse_out)};
}

// A hex fingerprint of a text file's bytes (the video lists and their manifest).
std::string file_fingerprint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::ostringstream h;
  h << std::hex << models::fnv1a64(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  return h.str();
}

}  // namespace

int train_video(const VideoTrainOptions& o) {
  torch::Device dev(torch::kCPU);
  if (!start_device(o, &dev)) return 6;
  const CheckpointFormat format = parse_checkpoint_format(o.checkpoint_format);
  const DiqpConfig cfg = DiqpConfig::by_name(o.config);
  torch::manual_seed(o.seed);
  models::Diqp model(cfg);
  model->to(dev);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(o.lr));
  Progress p(o.seed, o.lr);
  StateMap prior;
  if (checkpoint_exists(o.run_dir, "last")) {
    const StateMap saved = read_state(o.run_dir + "/last.state");  // config first: clear error
    if (!saved.count("config") || saved.at("config") != cfg.serialize()) {
      std::cerr << "error: " << o.run_dir << ": checkpoint was trained with config '"
                << (saved.count("config") ? saved.at("config") : "?") << "', not '" << o.config << "'\n";
      return 2;
    }
    prior = load_checkpoint(o.run_dir, "last", *model, {&opt}, dev);
    p.resume(prior, o.run_dir, o.reset_lr);
  }
  const int64_t step0 = p.step;
  int64_t saved_step = -1;
  WeightAverage average(*model, o.ema);
  if (average.enabled() && !prior.empty() && !average.load(o.run_dir, "last"))
    std::cerr << "weight average restarts from the checkpoint's weights\n";
  const std::vector<torch::Tensor>* averaged = average.enabled() ? &average.tensors() : nullptr;

  const auto train = load_sequences(o.train_list);
  const auto val = load_sequences(o.val_list);
  std::vector<double> cum;
  double total = 0;
  for (const auto& s : train) cum.push_back(total += s.frames);
  // The lists name the sequences; their frames are fixed by the manifest beside them.
  const std::string manifest = (fs::path(o.train_list).parent_path() / "manifest.tsv").string();
  const std::string fingerprint = file_fingerprint(fs::exists(manifest) ? manifest : o.train_list);
  const std::string val_fingerprint = file_fingerprint(o.val_list);
  p.check_val_set(prior, val_fingerprint, o.reset_best);
  std::cerr << "train sequences: " << train.size() << " (" << total << " frames), val sequences: " << val.size()
            << ", config " << cfg.serialize() << "\n";

  fs::create_directories(o.run_dir);
  std::vector<std::string> kinds;
  for (const auto& s : val)
    if (std::find(kinds.begin(), kinds.end(), setting_kind(s.setting)) == kinds.end())
      kinds.push_back(setting_kind(s.setting));
  std::sort(kinds.begin(), kinds.end());
  std::string header = "kind,step,wall_s,lr,loss,train_gain_db,val_gain_db";
  for (const auto& k : kinds) header += ",val_" + k;
  CsvLog log(o.run_dir + "/train.csv", header);

  auto make_state = [&](const ValResult* v) {
    StateMap s = p.state(cfg.serialize(), fingerprint, val_fingerprint,
                         device_description(dev, o.threads));
    s["batch"] = std::to_string(o.batch);
    s["crop"] = std::to_string(o.crop);
    s["ema"] = fmt(o.ema);
    if (v) {
      for (const auto& [k, g] : v->gain) {
        s["val_gain_db_" + k] = fmt(g, 6);
        s["val_psnr_in_" + k] = fmt(v->psnr_in.at(k), 6);
      }
      s["val_mean_gain_db"] = fmt(v->mean_gain, 6);
      s["val_sequences"] = std::to_string(val.size());
      s["val_stride"] = std::to_string(o.val_stride);
    }
    return s;
  };

  TrainClock clock(o);
  double acc_loss = 0, acc_gain = 0;
  int acc_n = 0;
  const double wall0 = p.wall;
  model->train();
  auto evaluate = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    average.swap();  // validate (and keep as "best") the averaged weights
    ValResult v = validate(model, val, o.val_stride, o.val_crop, dev);
    std::ostringstream row;
    row << "val," << p.step << "," << fmt(p.wall, 8) << "," << fmt(p.lr) << ",,," << fmt(v.mean_gain);
    for (const auto& k : kinds) row << "," << fmt(v.gain.count(k) ? v.gain[k] : 0);
    log.row(row.str());
    std::cerr << "val step " << p.step << "  mean dPSNR-Y " << fmt(v.mean_gain, 4) << " dB ";
    for (const auto& [k, g] : v.gain) std::cerr << " " << k << " " << fmt(v.psnr_in[k], 4) << "+" << fmt(g, 3);
    std::cerr << "  (" << fmt(seconds_since(t0), 3) << " s)\n";
    if (p.judge(-v.mean_gain, o.patience))
      save_checkpoint(o.run_dir, "best", *model, {&opt}, make_state(&v), nullptr, format);
    average.swap();
  };
  if (o.eval_at_start) {
    evaluate();
    clock.restart();
  }
  const std::vector<torch::Tensor> params = model->parameters();
  while (!clock.finished(p.step)) {
    torch::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(p.step));
    set_lr(opt, (o.warmup_steps > 0 && p.step < o.warmup_steps) ? p.lr * (p.step + 1) / o.warmup_steps : p.lr);
    const VideoStep st = video_step(model, opt, params, o, cfg, train, cum, p.rng, dev);
    average.update(p.step);
    ++p.step;
    acc_loss += st.loss;
    acc_gain += st.gain_db;
    ++acc_n;
    p.wall = wall0 + clock.seconds();
    if (p.step % o.log_every == 0) {
      log.row("train," + std::to_string(p.step) + "," + fmt(p.wall, 8) + "," + fmt(p.lr) + "," + fmt(acc_loss / acc_n) +
              "," + fmt(acc_gain / acc_n) + "," + std::string(kinds.size(), ','));
      std::cerr << "video step " << p.step << "  loss " << fmt(acc_loss / acc_n) << "  dPSNR-Y(batch) "
                << fmt(acc_gain / acc_n, 3) << " dB  " << fmt(clock.seconds() / (p.step - step0), 3)
                << " s/step\n";
      acc_loss = acc_gain = 0;
      acc_n = 0;
    }
    if (clock.eval_due()) evaluate();
    if (clock.checkpoint_due(p.step)) {
      save_checkpoint(o.run_dir, "last", *model, {&opt}, make_state(nullptr), averaged, format);
      saved_step = p.step;
    }
  }
  if (o.eval_at_end && p.step > step0) evaluate();
  if (saved_step != p.step)
    save_checkpoint(o.run_dir, "last", *model, {&opt}, make_state(nullptr), averaged, format);
  std::cerr << "stopped at step " << p.step << " (" << fmt(p.wall / 3600, 3) << " h in total)\n";
  return 0;
}

int export_video(const VideoExportOptions& o) {
  torch::set_num_threads(1);
  StateMap state;
  DiqpConfig cfg;
  if (!o.init_config.empty()) {
    cfg = DiqpConfig::by_name(o.init_config);
    torch::manual_seed(o.init_seed);
    state["step"] = "0";
  } else {
    state = read_state(o.run_dir + "/" + o.which + ".state");
    cfg = DiqpConfig::parse(state.at("config"));
  }
  models::Diqp model(cfg);
  if (o.init_config.empty()) {
    load_checkpoint(o.run_dir, o.which, *model, {}, torch::kCPU);
  } else {
    model->randomize_output(0.02);  // random test model: a visible residual
  }
  model->eval();
  ExportSpec spec = export_spec(o, "diqp", cfg.serialize(),
                                "data/video/manifest.tsv (data_scripts/build_video_pairs.py)");
  spec.ledger = o.ledger;
  models::WeightFile w;
  models::export_module(*model, w);
  if (!o.qp_gate.empty()) {
    check_qp_gate(o.qp_gate);
    w.meta["qp_gate"] = o.qp_gate;  // save_export puts it into the ledger too
  }
  save_export(spec, *model, state, w);
  return 0;
}

void check_qp_gate(const std::string& gate) {
  double lo, hi;
  if (!models::parse_qp_gate(gate, &lo, &hi))
    throw flags::UsageError("--qp-gate: expected LO,HI with 0 <= LO < HI <= 1, got '" + gate + "'");
}

int set_video_qp_gate(const std::string& weights, const std::string& qp_gate,
                      const std::string& out, const std::string& ledger) {
  if (!qp_gate.empty()) check_qp_gate(qp_gate);
  models::ModelFile f = models::load_model_file(weights, "diqp", "a video restorer");
  nlohmann::ordered_json j;
  if (!ledger.empty()) {  // read (and checked) before anything is written
    std::ifstream in(ledger);
    if (!in) throw std::runtime_error("cannot read the ledger " + ledger);
    j = nlohmann::ordered_json::parse(in);
  }
  if (qp_gate.empty())
    f.weights.meta.erase("qp_gate");
  else
    f.weights.meta["qp_gate"] = qp_gate;
  models::save_weights(out, f.weights, f.weights.stored_fp16);
  const std::string hash = models::hash_hex(f.weights.hash);
  std::cerr << "wrote " << out << " (" << fs::file_size(out) << " bytes, qp_gate '" << qp_gate
            << "', hash " << hash << ")\n";
  if (ledger.empty()) return 0;
  j["file"] = fs::path(out).filename().string();
  j["file_bytes"] = static_cast<int64_t>(fs::file_size(out));
  j["weight_hash"] = hash;
  if (qp_gate.empty())
    j.erase("qp_gate");
  else
    j["qp_gate"] = qp_gate;
  std::ofstream o(ledger, std::ios::trunc);
  o << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  if (!o) throw std::runtime_error("cannot write " + ledger);
  std::cerr << "updated " << ledger << "\n";
  return 0;
}

}  // namespace lucid::train
