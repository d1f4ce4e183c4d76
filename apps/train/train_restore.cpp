// lucid-train restore: trains the JPEG restorer in two stages.
//  1. CaVE alone (cave_steps steps): quality-factor regression + pairwise ranking (explicit)
//     and clean-image reconstruction through CaVE's light decoder (implicit).
//  2. CaVE frozen; the conditional U-Net learns x0 from the JPEG image at t* (and from noised
//     JPEG images at random t > t*), loss Charbonnier + 0.1 * mean per-sample log MSE (the first
//     2352 restorer steps of the shipped codiff-small used Charbonnier + 10 * MSE).
// Pairs are made on the fly: random crops JPEG-encoded in memory with libjpeg-turbo (IJG
// baseline tables, 4:2:0, optimized Huffman) at QF 5..95, some double-compressed with a shifted
// grid, some cropped off the 8x8 grid; or drawn the same way beforehand (Pillow, which is
// libjpeg-turbo too) by data_scripts/expand_pack.py and read from a pair pack (--train-pack,
// the only way in LUCID_TRAIN_ONLY builds, which have no JPEG library). Checkpoints hold the
// model, both optimizers and the trainer state (step, rng, lr), so a resumed run continues
// exactly.
#include "train_restore.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "lucid/models/device.h"
#include "lucid/models/codiff.h"
#include "lucid/models/weights.h"
#ifndef LUCID_TRAIN_ONLY
#include "lucid/media/jpeg_io.h"
#endif
#include "pack.h"
#include "train_common.h"

namespace fs = std::filesystem;

namespace lucid::train {

namespace {

const std::vector<int> kValQfs = {10, 20, 30, 40};

struct Pair {
  torch::Tensor clean, jpeg;  // float [3, S, S] in [0, 1]
  int qf = 0;                 // quality factor of the last compression
};

torch::Tensor to_chw_float(const torch::Tensor& hwc_u8) {
  return hwc_u8.permute({2, 0, 1}).to(torch::kFloat).div_(255.0);
}

// JPEG round trip of an HWC uint8 image through libjpeg-turbo.
// A JPEG of an RGB8 HWC region at quality qf, decoded: 4:2:0 colour, or with `gray` one luma
// component (as `cjpeg -grayscale` writes; decoded to R = G = B).
torch::Tensor jpeg_round_trip(const torch::Tensor& hwc, int qf, bool gray = false) {
#ifdef LUCID_TRAIN_ONLY
  (void)hwc;
  (void)qf;
  (void)gray;
  throw std::runtime_error("this lucid-train was built with LUCID_TRAIN_ONLY (no JPEG library): "
                           "train the restorer from JPEG pair packs (data_scripts/expand_pack.py)");
#else
  torch::Tensor c = hwc.contiguous();
  const int h = static_cast<int>(c.size(0)), w = static_cast<int>(c.size(1));
  auto bytes = jpeg::encode_jpeg(c.data_ptr<uint8_t>(), w, h, qf,
                                 gray ? jpeg::Subsampling::kGray : jpeg::Subsampling::k420, true);
  jpeg::DecodedJpeg d;
  std::string why;
  if (jpeg::decode_jpeg(bytes.data(), bytes.size(), &d, &why) != jpeg::Status::kOk)
    throw std::runtime_error("JPEG round trip failed: " + why);
  return torch::from_blob(d.rgb.data(), {h, w, 3}, torch::kUInt8).clone();
#endif
}

int draw_qf(const RestoreTrainOptions& o, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  const double r = u(rng);
  const int hi = r < o.low_qf_prob ? 50 : 95;
  const int lo = r >= o.low_qf_prob && r < o.low_qf_prob + o.high_qf_prob ? 75 : 5;
  return lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

// Film grain / sensor noise on a clean uint8 HWC region (the target keeps it): luma noise of
// std 0.5..5 levels, spatially correlated (2x2 box) half of the time, plus chroma noise of std
// 0..1.5. The training photos are mostly downscaled by 4-8x and far cleaner than photographs
// as people take them; on 12 validation crops with such grain the restorer gained 0.13-0.23 dB
// less at QF 10-30 than on the clean crops. data_scripts/expand_pack.py draws the same.
torch::Tensor add_grain(const torch::Tensor& region, double u_sigma, double u_chroma, bool correlated) {
  const int64_t R0 = region.size(0), R1 = region.size(1);
  torch::Tensor n = torch::randn({R0, R1}) * (0.5 + 4.5 * u_sigma);
  if (correlated) n = (n + n.roll(1, 0) + n.roll(1, 1) + n.roll({1, 1}, {0, 1})) / 2;
  torch::Tensor g = region.to(torch::kFloat) + n.unsqueeze(2) + torch::randn({R0, R1, 3}) * (1.5 * u_chroma);
  return g.round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

// The luma of an RGB8 HWC region (0.299 R + 0.587 G + 0.114 B, rounded) in all three channels:
// the clean target of a grayscale JPEG, as lucid's gray output and the gray benchmark see it.
torch::Tensor luma_rgb(const torch::Tensor& hwc) {
  const torch::Tensor f = hwc.to(torch::kFloat);
  const torch::Tensor y =
      (f.select(2, 0) * 0.299f + f.select(2, 1) * 0.587f + f.select(2, 2) * 0.114f).round();
  return y.clamp(0, 255).to(torch::kUInt8).unsqueeze(2).expand({-1, -1, 3}).contiguous();
}

Pair make_pair(const std::vector<Photo>& photos, int S, const RestoreTrainOptions& o,
               std::mt19937_64& rng) {
  const Photo& p = photos[rng() % photos.size()];
  const int64_t H = p.rgb.size(1), W = p.rgb.size(2), R = S + 8;
  const int64_t y = static_cast<int64_t>(rng() % (H - R + 1));
  const int64_t x = static_cast<int64_t>(rng() % (W - R + 1));
  torch::Tensor region = p.rgb.slice(1, y, y + R).slice(2, x, x + R).permute({1, 2, 0});
  if (rng() & 1) region = region.flip({1});
  region = region.contiguous();
  std::uniform_real_distribution<double> u(0, 1);
  if (u(rng) < o.grain_prob) region = add_grain(region, u(rng), u(rng), u(rng) < 0.5);
  // Grayscale JPEGs: luma in, luma out (no draw at all when off, so older runs replay exactly).
  const bool gray = o.gray_prob > 0 && u(rng) < o.gray_prob;
  if (gray) region = luma_rgb(region);
  const auto round_trip = [gray](const torch::Tensor& hwc, int qf) {
    return jpeg_round_trip(hwc, qf, gray);
  };
  const double mode = u(rng);
  Pair out;
  out.qf = draw_qf(o, rng);
  if (mode < o.double_prob) {
    const int q1 = draw_qf(o, rng);
    const int64_t dy = rng() % 8, dx = rng() % 8;
    torch::Tensor first = round_trip(region, q1).slice(0, dy, dy + S).slice(1, dx, dx + S);
    out.jpeg = to_chw_float(round_trip(first, out.qf));
    out.clean = to_chw_float(region.slice(0, dy, dy + S).slice(1, dx, dx + S));
  } else if (mode < o.double_prob + o.shift_prob) {
    const int64_t dy = 1 + rng() % 7, dx = rng() % 8;
    out.jpeg = to_chw_float(
        round_trip(region, out.qf).slice(0, dy, dy + S).slice(1, dx, dx + S).contiguous());
    out.clean = to_chw_float(region.slice(0, dy, dy + S).slice(1, dx, dx + S));
  } else {
    torch::Tensor c = region.slice(0, 0, S).slice(1, 0, S).contiguous();
    out.jpeg = to_chw_float(round_trip(c, out.qf));
    out.clean = to_chw_float(c);
  }
  return out;
}

struct Batch {
  torch::Tensor clean, jpeg, qf01;  // qf01: [B] true quality / 100
};

// A pair from a pair pack: drawn at random (the pack's pairs were drawn like make_pair's).
Pair pack_pair(const std::vector<Photo>& pairs, std::mt19937_64& rng) {
  const Photo& r = pairs[rng() % pairs.size()];
  Pair out;
  out.clean = r.rgb.to(torch::kFloat).div_(255.0);
  out.jpeg = r.jpeg.to(torch::kFloat).div_(255.0);
  out.qf = r.qf;
  return out;
}

Batch make_batch(const std::vector<Photo>& photos, int n, int S, const RestoreTrainOptions& o,
                 std::mt19937_64& rng, torch::Device dev) {
  std::vector<torch::Tensor> c, j;
  std::vector<float> q;
  const bool pairs = !photos.empty() && photos[0].jpeg.defined();
  for (int i = 0; i < n; ++i) {
    Pair p = pairs ? pack_pair(photos, rng) : make_pair(photos, S, o, rng);
    c.push_back(p.clean);
    j.push_back(p.jpeg);
    q.push_back(p.qf / 100.0f);
  }
  return {torch::stack(c).to(dev), torch::stack(j).to(dev), torch::tensor(q).to(dev)};
}

torch::Tensor charbonnier(const torch::Tensor& d) {
  return torch::sqrt(d * d + 1e-6).mean();
}

// Pairwise ranking: for every pair with qf_i < qf_j the prediction should order them too.
torch::Tensor ranking_loss(const torch::Tensor& pred, const torch::Tensor& qf01) {
  torch::Tensor dq = qf01.unsqueeze(0) - qf01.unsqueeze(1);    // [i, j] = q_j - q_i
  torch::Tensor dp = pred.unsqueeze(0) - pred.unsqueeze(1);
  torch::Tensor mask = (dq > 0.02).to(pred.scalar_type());
  const double n = std::max(1.0, mask.sum().item<double>());
  return (torch::softplus(-20.0 * dp) * mask).sum() / n;
}

struct ValSet {
  std::vector<torch::Tensor> clean;             // per photo [3, S, S]
  std::vector<std::vector<torch::Tensor>> jpeg;  // [qf index][photo]
};

ValSet make_val_set(const std::vector<Photo>& val, int S) {
  ValSet v;
  v.jpeg.resize(kValQfs.size());
  for (const auto& p : val) {
    torch::Tensor c = center_crop(p, S);
    v.clean.push_back(c);
    torch::Tensor hwc = c.mul(255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
    for (size_t qi = 0; qi < kValQfs.size(); ++qi)
      v.jpeg[qi].push_back(to_chw_float(jpeg_round_trip(hwc, kValQfs[qi])));
  }
  return v;
}

// The validation set from a pair pack: per photo one record for each of kValQfs, in order.
ValSet val_set_from_pairs(const std::vector<Photo>& recs, int S, const std::string& path) {
  if (recs.size() % kValQfs.size())
    throw std::runtime_error("val pack " + path + ": " + std::to_string(recs.size()) +
                             " pairs, not a multiple of the " + std::to_string(kValQfs.size()) +
                             " validation QFs");
  ValSet v;
  v.jpeg.resize(kValQfs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    const Photo& r = recs[i];
    const size_t qi = i % kValQfs.size();
    if (r.qf != kValQfs[qi] || r.mode != 0 || r.rgb.size(1) != S || r.rgb.size(2) != S)
      throw std::runtime_error("val pack " + path + ": pair " + std::to_string(i) + " is " +
                               std::to_string(r.rgb.size(1)) + "x" +
                               std::to_string(r.rgb.size(2)) + " at QF " + std::to_string(r.qf) +
                               "; expected " + std::to_string(S) + "x" + std::to_string(S) +
                               " (--val-crop) at QF " + std::to_string(kValQfs[qi]));
    if (qi == 0) v.clean.push_back(r.rgb.to(torch::kFloat).div(255.0));
    v.jpeg[qi].push_back(r.jpeg.to(torch::kFloat).div(255.0));
  }
  return v;
}

// A pair pack's "key=value" must equal the trainer's option (else it was drawn differently).
void check_pack_option(const Pack& p, const std::string& path, const std::string& key,
                       double value, const std::string& flag) {
  const auto it = p.info.find(key);
  if (it == p.info.end()) return;
  if (std::abs(std::stod(it->second) - value) > 1e-9)
    throw std::runtime_error("pair pack " + path + " was drawn with " + key + " " + it->second +
                             ", this run asks for " + flag + " " + std::to_string(value) +
                             " (re-expand the pack with data_scripts/expand_pack.py)");
}

struct ValResult {
  std::vector<double> jpeg_psnr, psnr, qf_mae;  // per QF
  double mean_gain = 0;
};

ValResult validate(models::Codiff& model, const ValSet& v, torch::Device dev) {
  torch::NoGradGuard ng;
  model->eval();
  ValResult r;
  const size_t n = v.clean.size();
  for (size_t qi = 0; qi < kValQfs.size(); ++qi) {
    double pj = 0, pr = 0, mae = 0;
    for (size_t b0 = 0; b0 < n; b0 += 8) {
      const size_t b1 = std::min(n, b0 + 8);
      std::vector<torch::Tensor> js(v.jpeg[qi].begin() + b0, v.jpeg[qi].begin() + b1);
      std::vector<torch::Tensor> cs(v.clean.begin() + b0, v.clean.begin() + b1);
      torch::Tensor j = torch::stack(js).to(dev), c = torch::stack(cs).to(dev);
      auto cave = model->cave();
      torch::Tensor emb = cave->embed(cave->pooled_features(j));
      torch::Tensor qf_pred = cave->predict_qf(emb);
      const int64_t B = j.size(0);
      torch::Tensor qf = torch::full({B}, kValQfs[qi] / 100.0, j.options());
      torch::Tensor out = model->restore(j, emb, qf, torch::ones({B}, j.options()));
      out = out.clamp(0, 1).mul(255).round().div(255);  // what the 8-bit output will hold
      for (int64_t b = 0; b < B; ++b) {
        pj += psnr_db(j[b], c[b]) / n;
        pr += psnr_db(out[b], c[b]) / n;
      }
      mae += (qf_pred - qf).abs().sum().item<double>() * 100 / n;
    }
    r.jpeg_psnr.push_back(pj);
    r.psnr.push_back(pr);
    r.qf_mae.push_back(mae);
    r.mean_gain += (pr - pj) / kValQfs.size();
  }
  model->train();
  return r;
}

// The training photos (a list, an image pack) or JPEG pairs (a pair pack); sets *fingerprint.
std::vector<Photo> load_training_set(const RestoreTrainOptions& o, std::string* fingerprint) {
  std::vector<Photo> train;
  if (o.train_pack.empty()) {
    train = load_photo_list(o.train_list, o.crop + 8);
    *fingerprint = dataset_fingerprint(train);
  } else {
    Pack p = read_pack(o.train_pack, o.crop);
    if (p.kind == PackKind::kImages) {
      std::vector<Photo> big;  // room for the crop and its grid shift
      for (auto& r : p.records)
        if (std::min(r.rgb.size(1), r.rgb.size(2)) >= o.crop + 8) big.push_back(std::move(r));
      if (big.empty()) throw std::runtime_error("pack " + o.train_pack + ": no image large enough");
      p.records = std::move(big);
    } else {
      for (const auto& r : p.records)
        if (r.rgb.size(1) != o.crop || r.rgb.size(2) != o.crop)
          throw std::runtime_error("pair pack " + o.train_pack + " holds " +
                                   std::to_string(r.rgb.size(1)) + "x" +
                                   std::to_string(r.rgb.size(2)) + " pairs; --crop is " +
                                   std::to_string(o.crop));
      check_pack_option(p, o.train_pack, "low_qf_prob", o.low_qf_prob, "--low-qf-prob");
      check_pack_option(p, o.train_pack, "high_qf_prob", o.high_qf_prob, "--high-qf-prob");
      check_pack_option(p, o.train_pack, "double_prob", o.double_prob, "double_prob");
      check_pack_option(p, o.train_pack, "shift_prob", o.shift_prob, "shift_prob");
      check_pack_option(p, o.train_pack, "grain_prob", o.grain_prob, "--grain-prob");
      check_pack_option(p, o.train_pack, "gray_prob", o.gray_prob, "--gray-prob");
      if (o.gray_prob > 0 && !p.info.count("gray_prob"))
        throw std::runtime_error("pair pack " + o.train_pack + " has no grayscale pairs; --gray-prob "
                                 "needs a pack expanded with data_scripts/expand_pack.py --gray-prob");
    }
    train = std::move(p.records);
    *fingerprint = p.fingerprint;
  }
  return train;
}

// The validation crops at every validation QF, from a list, an image pack or a pair pack.
ValSet load_validation_set(const RestoreTrainOptions& o, std::string* val_fingerprint,
                           size_t* val_images) {
  ValSet val_set;
  if (o.val_pack.empty()) {
    auto val = load_photo_list(o.val_list, o.val_crop);
    *val_fingerprint = dataset_fingerprint(val);
    val_set = make_val_set(val, o.val_crop);
    *val_images = val.size();
  } else {
    Pack p = read_pack(o.val_pack, o.val_crop);
    *val_fingerprint = p.fingerprint;
    if (p.kind == PackKind::kPairs) {
      val_set = val_set_from_pairs(p.records, o.val_crop, o.val_pack);
    } else {
      val_set = make_val_set(p.records, o.val_crop);
    }
    *val_images = val_set.clean.size();
  }
  return val_set;
}

std::vector<torch::Tensor> restorer_params(models::Codiff& model) {
  std::vector<torch::Tensor> out;
  for (auto& p : model->named_parameters(true))
    if (p.key().rfind("cave.", 0) != 0) out.push_back(p.value());
  return out;
}

// What one training step reports (averaged into the log rows).
struct StepStats {
  double loss = 0, qf_mae = 0, gain_db = 0;
};

// Stage 1, one CaVE step: quality-factor regression and ranking, and reconstruction of the
// clean crop through CaVE's light decoder.
StepStats cave_step(models::Codiff& model, torch::optim::Adam& cave_opt,
                    const std::vector<Photo>& train, const RestoreTrainOptions& o,
                    std::mt19937_64& rng, torch::Device dev) {
  auto cave = model->cave();
  StepStats st;
  Batch b = make_batch(train, o.cave_batch, o.crop, o, rng, dev);
  torch::Tensor emb = cave->embed(cave->pooled_features(b.jpeg));
  torch::Tensor pred = cave->predict_qf(emb);
  torch::Tensor rec = cave->reconstruct(b.jpeg, emb);
  torch::Tensor loss = (pred - b.qf01).abs().mean() + 0.2 * ranking_loss(pred, b.qf01) +
                       2.0 * charbonnier(rec - b.clean);
  cave_opt.zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(cave->parameters(), 1.0);
  cave_opt.step();
  st.loss = loss.item<double>();
  st.qf_mae = (pred - b.qf01).abs().mean().item<double>() * 100;
  st.gain_db = psnr_db(rec, b.clean) - psnr_db(b.jpeg, b.clean);
  return st;
}

// Stage 2, one restorer step (CaVE frozen): x0 from the JPEG image at t* (or noised at a
// random t > t*), conditioned on CaVE's embedding and the true or estimated QF.
StepStats restorer_step(models::Codiff& model, torch::optim::Adam& opt,
                        const std::vector<torch::Tensor>& rparams, const std::vector<Photo>& train,
                        const RestoreTrainOptions& o, std::mt19937_64& rng, torch::Device dev) {
  auto cave = model->cave();
  const models::CodiffConfig& cfg = model->config();
  std::uniform_real_distribution<double> u01(0, 1);
  StepStats st;
  Batch b = make_batch(train, o.batch, o.crop, o, rng, dev);
  const int64_t B = b.jpeg.size(0);
  torch::Tensor emb, qf_in, known;
  std::vector<float> tv(B), kv(B);
  {
    torch::NoGradGuard ng;
    cave->eval();
    emb = cave->embed(cave->pooled_features(b.jpeg));
    torch::Tensor est = cave->predict_qf(emb).clamp(0.01, 1.0);
    for (int64_t i = 0; i < B; ++i) {
      kv[i] = u01(rng) < o.known_prob ? 1.0f : 0.0f;
      tv[i] = u01(rng) < o.noise_prob
                  ? static_cast<float>(cfg.t_star + (1 - cfg.t_star) * u01(rng))
                  : static_cast<float>(cfg.t_star);
    }
    known = torch::tensor(kv).to(dev);
    qf_in = known * b.qf01 + (1 - known) * est;
    st.qf_mae = (est - b.qf01).abs().mean().item<double>() * 100;
  }
  torch::Tensor t = torch::tensor(tv).to(dev);
  std::vector<float> sig(B);
  for (int64_t i = 0; i < B; ++i) sig[i] = static_cast<float>(cfg.sigma(tv[i]));
  torch::Tensor x_t =
      b.jpeg + torch::tensor(sig).to(dev).view({B, 1, 1, 1}) * torch::randn_like(b.jpeg);
  torch::Tensor out = model->unet()->forward(x_t, model->condition(t, emb, qf_in, known));
  torch::Tensor d = out - b.clean;
  // Charbonnier + 0.1 * mean_i log(MSE_i): the log term is the negative PSNR of each
  // sample (up to scale), so high-quality inputs, whose errors are tiny, weigh as much in
  // dB as low-quality ones; with plain MSE the network learned to hurt QF 90-95 slightly.
  torch::Tensor per_sample = d.pow(2).flatten(1).mean(1);
  torch::Tensor loss = charbonnier(d) + 0.1 * torch::log(per_sample + 1e-5).mean();
  opt.zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(rparams, o.clip);
  opt.step();
  st.loss = loss.item<double>();
  torch::NoGradGuard ng;
  torch::Tensor at_star = (t <= cfg.t_star + 1e-6);
  if (at_star.any().item<bool>()) {
    torch::Tensor m = at_star.to(torch::kFloat).view({B, 1, 1, 1});
    const double n = m.sum().item<double>() * d[0].numel();
    const double mse_out = (d.pow(2) * m).sum().item<double>() / n;
    const double mse_in = ((b.jpeg - b.clean).pow(2) * m).sum().item<double>() / n;
    st.gain_db = gain_db(mse_in, mse_out);
  }
  return st;
}

}  // namespace

int train_restore(const RestoreTrainOptions& o) {
  torch::Device dev(torch::kCPU);
  if (!start_device(o, &dev)) return 6;
  const CheckpointFormat format = parse_checkpoint_format(o.checkpoint_format);
  const models::CodiffConfig cfg = models::CodiffConfig::by_name(o.config);
  torch::manual_seed(o.seed);
  models::Codiff model(cfg);
  model->to(dev);
  auto cave = model->cave();
  torch::optim::Adam cave_opt(cave->parameters(), torch::optim::AdamOptions(o.cave_lr));
  std::vector<torch::Tensor> rparams = restorer_params(model);
  torch::optim::Adam opt(rparams, torch::optim::AdamOptions(o.lr));

  Progress p(o.seed, o.lr);
  StateMap prior, best_info;
  if (checkpoint_exists(o.run_dir, "last")) {
    prior = load_checkpoint(o.run_dir, "last", *model, {&cave_opt, &opt}, dev);
    if (prior.at("config") != cfg.serialize()) {
      std::cerr << "error: " << o.run_dir << ": checkpoint was trained with config '"
                << prior.at("config") << "', not '" << o.config << "'\n";
      return 2;
    }
    p.resume(prior, o.run_dir, o.reset_lr);
    if (checkpoint_is_legacy(o.run_dir, "last")) {
      round_to_checkpoint(*model, {&cave_opt, &opt}, nullptr);  // as if resumed from a compact one
      std::cerr << "legacy fp32 checkpoint: state rounded to the compact format; the next save "
                   "converts it\n";
    }
  }
  const int64_t step0 = p.step;
  int64_t saved_step = -1;  // step of the last save of "last" in this session

  std::string fingerprint, val_fingerprint;
  const std::vector<Photo> train = load_training_set(o, &fingerprint);
  size_t val_images = 0;
  const ValSet val_set = load_validation_set(o, &val_fingerprint, &val_images);
  p.check_val_set(prior, val_fingerprint, o.reset_best);
  std::cerr << "train " << (train[0].jpeg.defined() ? "pairs: " : "images: ") << train.size()
            << ", val images: " << val_images << ", dataset " << fingerprint << ", config "
            << cfg.serialize() << "\n";

  fs::create_directories(o.run_dir);
  CsvLog log(o.run_dir + "/train.csv",
             "kind,step,wall_s,stage,lr,loss,qf_mae,train_gain_db,val_gain_db,val_q10,val_q20,"
             "val_q30,val_q40,val_qf_mae");

  auto make_state = [&](const ValResult* v) {
    StateMap s = p.state(cfg.serialize(), fingerprint, val_fingerprint,
                         device_description(dev, o.threads));
    s["cave_steps"] = std::to_string(o.cave_steps);
    s["batch"] = std::to_string(o.batch);
    s["crop"] = std::to_string(o.crop);
    if (v && !v->psnr.empty()) {
      for (size_t i = 0; i < kValQfs.size(); ++i) {
        const std::string q = std::to_string(kValQfs[i]);
        s["val_jpeg_psnr_q" + q] = fmt(v->jpeg_psnr[i], 8);
        s["val_psnr_q" + q] = fmt(v->psnr[i], 8);
        s["val_cave_qf_mae_q" + q] = fmt(v->qf_mae[i], 6);
      }
      s["val_mean_gain_db"] = fmt(v->mean_gain, 6);
      s["val_crop"] = std::to_string(o.val_crop);
      s["val_images"] = std::to_string(val_images);
    }
    return s;
  };

  TrainClock clock(o);
  double acc_loss = 0, acc_mae = 0, acc_gain = 0;
  int acc_n = 0;
  const double wall0 = p.wall;
  model->train();
  auto evaluate = [&] {
    ValResult v = validate(model, val_set, dev);
    std::ostringstream row;
    row << "val," << p.step << "," << fmt(p.wall, 8) << ",restorer," << fmt(p.lr) << ",,,,"
        << fmt(v.mean_gain);
    for (size_t i = 0; i < kValQfs.size(); ++i) row << "," << fmt(v.psnr[i] - v.jpeg_psnr[i]);
    double mae = 0;
    for (double m : v.qf_mae) mae += m / v.qf_mae.size();
    row << "," << fmt(mae);
    log.row(row.str());
    std::cerr << "val step " << p.step << "  mean gain " << fmt(v.mean_gain, 4) << " dB ";
    for (size_t i = 0; i < kValQfs.size(); ++i)
      std::cerr << " q" << kValQfs[i] << " " << fmt(v.jpeg_psnr[i], 4) << "->"
                << fmt(v.psnr[i], 4);
    std::cerr << "  cave qf mae " << fmt(mae, 3) << "\n";
    if (p.judge(-v.mean_gain, o.patience))
      save_checkpoint(o.run_dir, "best", *model, {&cave_opt, &opt}, make_state(&v), nullptr,
                      format);
  };
  if (o.eval_at_start && p.step >= o.cave_steps) {
    evaluate();
    // --minutes budgets the training: the clock starts after this validation.
    clock.restart();
  }
  while (!clock.finished(p.step)) {
    torch::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(p.step));
    const bool stage1 = p.step < o.cave_steps;
    StepStats st;
    if (stage1) {
      st = cave_step(model, cave_opt, train, o, p.rng, dev);
    } else {
      const int64_t rs = p.step - o.cave_steps;  // restorer step
      set_lr(opt, (o.warmup_steps > 0 && rs < o.warmup_steps) ? p.lr * (rs + 1) / o.warmup_steps
                                                               : p.lr);
      st = restorer_step(model, opt, rparams, train, o, p.rng, dev);
    }
    ++p.step;
    acc_loss += st.loss;
    acc_mae += st.qf_mae;
    acc_gain += st.gain_db;
    ++acc_n;
    p.wall = wall0 + clock.seconds();
    if (p.step % o.log_every == 0) {
      log.row("train," + std::to_string(p.step) + "," + fmt(p.wall, 8) + "," +
              (stage1 ? "cave" : "restorer") + "," + fmt(stage1 ? o.cave_lr : p.lr) + "," +
              fmt(acc_loss / acc_n) + "," + fmt(acc_mae / acc_n) + "," + fmt(acc_gain / acc_n) +
              ",,,,,,");
      std::cerr << (stage1 ? "cave " : "restorer ") << "step " << p.step << "  loss "
                << fmt(acc_loss / acc_n) << "  qf-mae " << fmt(acc_mae / acc_n, 3)
                << "  gain " << fmt(acc_gain / acc_n, 3) << " dB  "
                << fmt(clock.seconds() / (p.step - step0), 3) << " s/step\n";
      acc_loss = acc_mae = acc_gain = 0;
      acc_n = 0;
    }
    const bool stage_end = p.step == o.cave_steps;
    if (!stage1 && clock.eval_due()) evaluate();
    if (clock.checkpoint_due(p.step) || stage_end) {
      clock.checkpoint_saved();
      save_checkpoint(o.run_dir, "last", *model, {&cave_opt, &opt}, make_state(nullptr), nullptr,
                      format);
      saved_step = p.step;
      if (stage_end) std::cerr << "stage 1 (CaVE) done at step " << p.step << "; CaVE frozen\n";
    }
  }
  if (o.eval_at_end && p.step > step0 && p.step > o.cave_steps) evaluate();
  if (saved_step != p.step)  // not twice at one step (see train_codec.cpp)
    save_checkpoint(o.run_dir, "last", *model, {&cave_opt, &opt}, make_state(nullptr), nullptr,
                    format);
  std::cerr << "stopped at step " << p.step << " (" << fmt(p.wall / 3600, 3) << " h in total)\n";
  return 0;
}

int export_restore(const RestoreExportOptions& o) {
  torch::set_num_threads(1);
  StateMap state;
  models::CodiffConfig cfg;
  if (!o.init_config.empty()) {
    cfg = models::CodiffConfig::by_name(o.init_config);
    torch::manual_seed(o.init_seed);
    state["step"] = "0";
  } else {
    state = read_state(o.run_dir + "/" + o.which + ".state");
    cfg = models::CodiffConfig::parse(state.at("config"));
  }
  models::Codiff model(cfg);
  if (o.init_config.empty()) {
    load_checkpoint(o.run_dir, o.which, *model, {}, torch::kCPU);
  } else {
    // Random test model: a visible residual, so tiling and blending tests are meaningful.
    model->unet()->randomize_output(0.02);
  }
  model->eval();

  ExportSpec spec = export_spec(o, "codiff", cfg.serialize(),
                                "data/photos/manifest.tsv (data_scripts/build_dataset.sh)");
  spec.ledger = o.ledger;
  models::WeightFile w;
  models::export_module(*model, w);
  save_export(spec, *model, state, w);
  return 0;
}

int convert_restore_checkpoint(const std::string& run_dir, const std::string& name) {
  torch::set_num_threads(2);
  const StateMap state = read_state(run_dir + "/" + name + ".state");
  const models::CodiffConfig cfg = models::CodiffConfig::parse(state.at("config"));
  models::Codiff model(cfg);
  torch::optim::Adam cave_opt(model->cave()->parameters(), torch::optim::AdamOptions(1e-3));
  std::vector<torch::Tensor> rparams = restorer_params(model);
  torch::optim::Adam opt(rparams, torch::optim::AdamOptions(4e-4));
  const bool legacy = checkpoint_is_legacy(run_dir, name);
  load_checkpoint(run_dir, name, *model, {&cave_opt, &opt}, torch::kCPU);
  save_checkpoint(run_dir, name, *model, {&cave_opt, &opt}, state);
  std::cerr << run_dir << "/" << name << ": " << (legacy ? "converted" : "rewritten") << " (step "
            << state.at("step") << ")\n";
  return 0;
}

int check_pair_pack(const std::string& path) {
#ifdef LUCID_TRAIN_ONLY
  std::cerr << "error: check-pack: this lucid-train was built with LUCID_TRAIN_ONLY (no JPEG "
               "library to compare with)\n";
  (void)path;
  return 1;
#else
  const Pack p = read_pack(path, 1);
  std::cerr << path << ": " << p.records.size() << (p.kind == PackKind::kPairs ? " pairs" : " images")
            << ", fingerprint " << p.fingerprint << "\n";
  for (const auto& [k, v] : p.info) std::cerr << "  " << k << "=" << v << "\n";
  if (p.kind != PackKind::kPairs) return 0;
  // Single compressions on the grid are what jpeg_round_trip makes from the clean crop.
  int64_t checked = 0, equal = 0, max_diff = 0;
  for (const auto& r : p.records) {
    if (r.mode != 0) continue;
    // A grayscale pair (--gray-prob): R = G = B in both images, made with one luma component.
    auto is_gray = [](const torch::Tensor& t) {
      return torch::equal(t[0], t[1]) && torch::equal(t[1], t[2]);
    };
    const bool gray = is_gray(r.rgb) && is_gray(r.jpeg);
    torch::Tensor mine = jpeg_round_trip(r.rgb.permute({1, 2, 0}).contiguous(), r.qf, gray)
                             .permute({2, 0, 1});
    const int64_t d = (mine.to(torch::kInt) - r.jpeg.to(torch::kInt)).abs().max().item<int64_t>();
    ++checked;
    equal += d == 0;
    max_diff = std::max(max_diff, d);
  }
  std::cerr << "single-compression pairs (colour or gray) checked against this build's libjpeg-turbo: " << checked
            << ", identical: " << equal << ", largest pixel difference: " << max_diff << "\n";
  return equal == checked ? 0 : 1;
#endif
}

}  // namespace lucid::train
