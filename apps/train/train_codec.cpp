// lucid-train codec: trains the FAT codec with a variable-rate RD loss
// (lambda * 255^2 * MSE + bpp, lambda sampled per image), with resume.
#include "train_codec.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <optional>
#include <sstream>

#include "lucid/models/device.h"
#include "lucid/models/fat_codec.h"
#include "lucid/models/weights.h"
#include "pack.h"
#include "train_common.h"

namespace fs = std::filesystem;

namespace lucid::train {

namespace {

struct ValResult {
  double loss = 0;
  std::vector<double> bpp, psnr;  // per evaluated quality
};

const std::vector<double> kValQualities = {0.0, 0.5, 1.0};

ValResult validate(models::FatCodec& model, const std::vector<Photo>& val, int crop,
                   torch::Device dev) {
  torch::NoGradGuard ng;
  model->eval();
  ValResult r;
  r.bpp.assign(kValQualities.size(), 0.0);
  r.psnr.assign(kValQualities.size(), 0.0);
  for (size_t qi = 0; qi < kValQualities.size(); ++qi) {
    const double lambda = model->config().lambda_for(kValQualities[qi]);
    for (const auto& p : val) {
      torch::Tensor x = center_crop(p, crop).unsqueeze(0).to(dev);
      torch::Tensor q = torch::full({1}, kValQualities[qi], x.options());
      auto out = model->forward_train(x, q, /*use_noise=*/false);
      const double mse = torch::mse_loss(out.x_hat.clamp(0, 1), x).item<double>();
      const double bpp = ((out.bits_y + out.bits_z).item<double>()) / (crop * crop);
      r.bpp[qi] += bpp / val.size();
      r.psnr[qi] += psnr_db(mse) / val.size();
      r.loss += (lambda * 255 * 255 * mse + bpp) / (val.size() * kValQualities.size());
    }
  }
  model->train();
  return r;
}

// Training or validation photos: an image list or a raw image pack; sets *fingerprint.
std::vector<Photo> load_images(const std::string& list, const std::string& pack, int min_side,
                               std::string* fingerprint) {
  if (pack.empty()) {
    auto photos = load_photo_list(list, min_side);
    *fingerprint = dataset_fingerprint(photos);
    return photos;
  }
  Pack p = read_pack(pack, min_side);
  if (p.kind != PackKind::kImages)
    throw std::runtime_error("pack " + pack + " holds JPEG pairs (a restorer pack), not images");
  *fingerprint = p.fingerprint;
  return std::move(p.records);
}

// A codec being trained: the model on its device, its parameters with Adam at `lr`, and the
// factorized prior's quantiles (the auxiliary loss) with their own Adam at 1e-3.
struct CodecTraining {
  CodecTraining(const models::FatConfig& cfg, double lr, torch::Device dev)
      : model(on_device(cfg, dev)),
        main_params(params(model, false)),
        aux_params(params(model, true)),
        opt(main_params, torch::optim::AdamOptions(lr)),
        aux_opt(aux_params, torch::optim::AdamOptions(1e-3)) {}
  models::FatCodec model;
  std::vector<torch::Tensor> main_params, aux_params;
  torch::optim::Adam opt, aux_opt;

 private:
  static models::FatCodec on_device(const models::FatConfig& cfg, torch::Device dev) {
    models::FatCodec m(cfg);
    m->to(dev);
    return m;
  }
  static std::vector<torch::Tensor> params(models::FatCodec& m, bool quantiles) {
    std::vector<torch::Tensor> out;
    for (auto& p : m->named_parameters(true))
      if ((p.key().find("quantiles") != std::string::npos) == quantiles) out.push_back(p.value());
    return out;
  }
};

// A run with fewer latent channels continues in the configuration's: the old model is loaded
// exactly (optimizers and weight average too), the new one starts from its averaged weights,
// and the optimizers' moments are carried across. Returns the checkpoint's state.
StateMap adopt_checkpoint(const CodecTrainOptions& o, const models::FatConfig& old_cfg,
                          CodecTraining& t, torch::Device dev) {
  CodecTraining old(old_cfg, o.lr, dev);
  models::FatCodec& old_model = old.model;
  models::FatCodec& model = t.model;
  StateMap prior = load_checkpoint(o.run_dir, "last", *old_model, {&old.opt, &old.aux_opt}, dev);
  WeightAverage old_average(*old_model, o.ema);
  const bool averaged_start = old_average.enabled() && old_average.load(o.run_dir, "last");
  if (averaged_start) old_average.swap();
  model->adopt(*old_model);
  migrate_adam_state(*old_model, old.opt, *model, t.opt);
  migrate_adam_state(*old_model, old.aux_opt, *model, t.aux_opt);
  std::cerr << "latent channels " << old_cfg.M << " -> " << model->config().M << " ("
            << model->config().detail << " from the detail branch): the new model starts from "
               "the checkpoint's "
            << (averaged_start ? "averaged " : "") << "weights\n";
  return prior;
}

// What one training step reports (averaged into the log rows).
struct CodecStep {
  double loss = 0, bpp = 0, psnr = 0, aux = 0;
};

// One step: a batch of random crops, each at a random quality q (lambda log-uniform over the
// configuration's range), loss weight * (lambda * 255^2 * MSE + bpp) with the weight
// (lambda / lambda_mid)^-lambda_balance; then one step of the factorized prior's quantiles.
CodecStep codec_step(models::FatCodec& model, torch::optim::Adam& opt, torch::optim::Adam& aux_opt,
                     const std::vector<torch::Tensor>& main_params, const std::vector<Photo>& train,
                     const CodecTrainOptions& o, std::mt19937_64& rng, torch::Device dev) {
  const models::FatConfig& cfg = model->config();
  std::vector<torch::Tensor> crops;
  std::vector<float> qs;
  std::uniform_real_distribution<float> uq(0.0f, 1.0f);
  for (int b = 0; b < o.batch; ++b) {
    crops.push_back(random_crop(train, o.crop, rng));
    qs.push_back(uq(rng));
  }
  torch::Tensor x = torch::stack(crops).to(dev);
  torch::Tensor q = torch::tensor(qs).to(dev);
  torch::Tensor lambda =
      torch::exp(std::log(cfg.lambda_min) + q * (std::log(cfg.lambda_max) - std::log(cfg.lambda_min)));
  auto out = model->forward_train(x, q);
  torch::Tensor mse = (out.x_hat - x).pow(2).flatten(1).mean(1);
  const double pixels = static_cast<double>(x.size(2) * x.size(3));
  torch::Tensor bpp = (out.bits_y + out.bits_z) / pixels;
  const double log_mid = 0.5 * (std::log(cfg.lambda_min) + std::log(cfg.lambda_max));
  torch::Tensor weight = torch::exp(-o.lambda_balance * (torch::log(lambda) - log_mid));
  torch::Tensor loss = (weight * (lambda * 255 * 255 * mse + bpp)).mean();
  opt.zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(main_params, o.clip);
  opt.step();
  aux_opt.zero_grad();
  torch::Tensor aux = model->aux_loss();
  aux.backward();
  aux_opt.step();
  CodecStep st;
  st.loss = loss.item<double>();
  st.bpp = bpp.mean().item<double>();
  st.psnr = psnr_db_each(mse).mean().item<double>();
  st.aux = aux.item<double>();
  return st;
}

}  // namespace

int train_codec(const CodecTrainOptions& o) {
  torch::Device dev(torch::kCPU);
  if (!start_device(o, &dev)) return 6;
  const CheckpointFormat format = parse_checkpoint_format(o.checkpoint_format);
  models::FatConfig cfg = models::FatConfig::by_name(o.config);
  // A run trained with a narrower rate range (fewer gain anchors) continues in the wider one;
  // one trained with fewer latent channels migrates into the configuration's (adopt).
  models::FatConfig built = cfg;
  int extend_below = 0, extend_above = 0;
  std::optional<models::FatConfig> adopt_from;
  if (checkpoint_exists(o.run_dir, "last")) {
    const auto old = models::FatConfig::parse(read_state(o.run_dir + "/last.state").at("config"));
    if (old.serialize() != cfg.serialize() &&
        models::FatConfig::gain_extension(old, cfg, &extend_below, &extend_above))
      built = old;
    else if (old.serialize() != cfg.serialize() && models::FatConfig::latent_extension(old, cfg))
      adopt_from = old;
  }
  torch::manual_seed(o.seed);  // reproducible initialisation
  CodecTraining t(built, o.lr, dev);
  models::FatCodec& model = t.model;
  torch::optim::Adam &opt = t.opt, &aux_opt = t.aux_opt;

  Progress p(o.seed, o.lr);
  StateMap prior_state;
  if (checkpoint_exists(o.run_dir, "last")) {
    if (adopt_from) {
      prior_state = adopt_checkpoint(o, *adopt_from, t, dev);
    } else {
      prior_state = load_checkpoint(o.run_dir, "last", *model, {&opt, &aux_opt}, dev);
      if (prior_state.at("config") != built.serialize()) {
        std::cerr << "error: " << o.run_dir << ": checkpoint was trained with config '"
                  << prior_state.at("config") << "', not '" << o.config << "'\n";
        return 2;
      }
    }
    p.resume(prior_state, o.run_dir, o.reset_lr);
    if (extend_below + extend_above > 0) {
      model->extend_gains(cfg, extend_below, extend_above, &opt);
      p.forget_best();  // the validation qualities now mean other lambdas
      std::cerr << "rate range widened: " << extend_below << " gain anchor(s) below, "
                << extend_above << " above (lambda " << cfg.lambda_min << " .. "
                << cfg.lambda_max << ")\n";
    }
  }
  set_lr(opt, p.lr);
  // Constructed after a possible widening of the rate range: it averages the final shapes.
  WeightAverage average(*model, o.ema);
  if (average.enabled() && !prior_state.empty() && !average.load(o.run_dir, "last"))
    std::cerr << "weight average restarts from the checkpoint's weights\n";
  const std::vector<torch::Tensor>* averaged = average.enabled() ? &average.tensors() : nullptr;
  if (!prior_state.empty() && checkpoint_is_legacy(o.run_dir, "last")) {
    // Continue exactly as from the converted (compact) checkpoint.
    round_to_checkpoint(*model, {&opt, &aux_opt}, averaged);
    std::cerr << "legacy fp32 checkpoint: state rounded to the compact format; the next save "
                 "converts it\n";
  }

  std::string fingerprint, val_fingerprint;
  auto train = load_images(o.train_list, o.train_pack, o.crop, &fingerprint);
  auto val = load_images(o.val_list, o.val_pack, o.val_crop, &val_fingerprint);
  p.check_val_set(prior_state, val_fingerprint, o.reset_best);
  std::cerr << "train images: " << train.size() << ", val images: " << val.size()
            << ", dataset " << fingerprint << "\n";
  if (!prior_state.empty() && prior_state.count("dataset") &&
      prior_state.at("dataset") != fingerprint)
    std::cerr << "note: the training set changed since the last checkpoint\n";

  fs::create_directories(o.run_dir);
  CsvLog log(o.run_dir + "/train.csv",
             "kind,step,wall_s,lr,loss,bpp,psnr,aux,val_loss,bpp_q0,psnr_q0,bpp_q50,psnr_q50,"
             "bpp_q100,psnr_q100");

  auto make_state = [&](double val_loss) {
    StateMap s = p.state(cfg.serialize(), fingerprint, val_fingerprint,
                         device_description(dev, o.threads));
    s["val_loss"] = fmt(val_loss, 8);
    s["ema"] = fmt(o.ema);
    s["lambda_balance"] = fmt(o.lambda_balance);
    return s;
  };

  TrainClock clock(o);
  double acc_loss = 0, acc_bpp = 0, acc_psnr = 0, acc_aux = 0;
  int acc_n = 0;
  const double wall0 = p.wall;
  const int64_t step0 = p.step;
  int64_t saved_step = -1;  // step of the last save of "last" in this session
  auto evaluate = [&] {
    average.swap();  // validate (and keep as "best") the averaged weights
    ValResult v = validate(model, val, o.val_crop, dev);
    std::ostringstream row;
    row << "val," << p.step << "," << fmt(p.wall, 8) << "," << fmt(p.lr) << ",,,,," << fmt(v.loss);
    for (size_t i = 0; i < v.bpp.size(); ++i) row << "," << fmt(v.bpp[i]) << "," << fmt(v.psnr[i]);
    log.row(row.str());
    std::cerr << "val step " << p.step << "  loss " << fmt(v.loss) << "  bpp/psnr";
    for (size_t i = 0; i < v.bpp.size(); ++i)
      std::cerr << "  " << fmt(v.bpp[i], 3) << "/" << fmt(v.psnr[i], 4);
    std::cerr << "\n";
    if (p.judge(v.loss, o.patience))
      save_checkpoint(o.run_dir, "best", *model, {&opt, &aux_opt}, make_state(v.loss), nullptr,
                      format);
    average.swap();
  };
  model->train();
  if (o.eval_at_start) {
    evaluate();
    // --minutes budgets the training: the clock starts after this validation.
    clock.restart();
  }
  while (!clock.finished(p.step)) {
    // Per-step seed: the noise of step s is the same whether or not training was resumed.
    torch::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(p.step));
    if (o.warmup_steps > 0 && p.step < o.warmup_steps)
      set_lr(opt, p.lr * (p.step + 1) / o.warmup_steps);
    else
      set_lr(opt, p.lr);
    const CodecStep st = codec_step(model, opt, aux_opt, t.main_params, train, o, p.rng, dev);
    average.update(p.step);
    ++p.step;

    acc_loss += st.loss;
    acc_bpp += st.bpp;
    acc_psnr += st.psnr;
    acc_aux += st.aux;
    ++acc_n;
    p.wall = wall0 + clock.seconds();
    if (p.step % o.log_every == 0) {
      log.row("train," + std::to_string(p.step) + "," + fmt(p.wall, 8) + "," + fmt(p.lr) + "," +
              fmt(acc_loss / acc_n) + "," + fmt(acc_bpp / acc_n) + "," + fmt(acc_psnr / acc_n) +
              "," + fmt(acc_aux / acc_n) + ",,,,,,,");
      std::cerr << "step " << p.step << "  loss " << fmt(acc_loss / acc_n) << "  bpp "
                << fmt(acc_bpp / acc_n, 4) << "  psnr " << fmt(acc_psnr / acc_n, 4) << "  aux "
                << fmt(acc_aux / acc_n, 4) << "  " << fmt(clock.seconds() / (p.step - step0), 3)
                << " s/step\n";
      acc_loss = acc_bpp = acc_psnr = acc_aux = 0;
      acc_n = 0;
    }
    if (clock.eval_due()) evaluate();
    if (clock.checkpoint_due(p.step)) {
      save_checkpoint(o.run_dir, "last", *model, {&opt, &aux_opt}, make_state(0), averaged,
                      format);
      saved_step = p.step;
    }
  }
  if (o.eval_at_end && p.step > step0) evaluate();
  // Not twice at one step: a second save would round the state again (harmless, but then a run
  // that saved here in the loop and one that stops here would differ).
  if (saved_step != p.step)
    save_checkpoint(o.run_dir, "last", *model, {&opt, &aux_opt}, make_state(0), averaged, format);
  std::cerr << "stopped at step " << p.step << " (" << fmt(p.wall / 3600, 3) << " h in total)\n";
  return 0;
}

int export_codec(const CodecExportOptions& o) {
  torch::set_num_threads(2);
  if (o.init_config.empty() && o.which != "best" && o.which != "last" && o.which != "ema") {
    std::cerr << "error: export-codec: --which " << o.which << ": expected best, last or ema\n";
    return 1;
  }
  // "ema": the weight average saved beside the last checkpoint.
  const std::string checkpoint = o.which == "ema" ? "last" : o.which;
  StateMap state;
  models::FatConfig cfg;
  if (!o.init_config.empty()) {
    // A freshly initialised (untrained) model, e.g. the tiny random-weight test model.
    cfg = models::FatConfig::by_name(o.init_config);
    torch::manual_seed(o.init_seed);
    state["step"] = "0";
  } else {
    state = read_state(o.run_dir + "/" + checkpoint + ".state");
    cfg = models::FatConfig::parse(state.at("config"));
  }
  models::FatCodec model(cfg);
  if (o.init_config.empty()) load_checkpoint(o.run_dir, checkpoint, *model, {}, torch::kCPU);
  if (o.which == "ema") {
    WeightAverage average(*model, 1.0);
    if (!average.load(o.run_dir, checkpoint)) {
      std::cerr << "error: export-codec: " << o.run_dir << "/last has no weight average that "
                   "matches the model (was the run trained with --ema 0?)\n";
      return 2;
    }
    average.swap();
  }
  model->eval();

  models::WeightFile w;
  models::export_module(*model, w);

  models::freeze_prior(model->prior(), w);  // the decoders' integer tables
  const auto dot = o.out.rfind(".lucidw");
  ExportSpec spec = export_spec(o, "fat", cfg.serialize(),
                                "data/photos/manifest.tsv (data_scripts/build_dataset.sh)");
  spec.ledger = (dot == std::string::npos ? o.out : o.out.substr(0, dot)) + ".ledger.json";
  save_export(spec, *model, state, w);
  return 0;
}

int probe_codec(const CodecProbeOptions& o) {
  torch::set_num_threads(o.threads);
  torch::NoGradGuard ng;
  const models::WeightFile w = models::load_weights(o.weights);
  if (w.get("arch") != "fat")
    throw std::runtime_error(o.weights + ": a " + w.get("arch") + " model, not the codec's");
  const models::FatConfig cfg = models::FatConfig::parse(w.get("config"));
  models::FatCodec model(cfg);
  models::import_module(*model, w);
  model->eval();
  std::vector<double> qs;
  {
    std::stringstream in(o.qualities);
    for (std::string t; std::getline(in, t, ',');) {
      const double q = std::stod(t);
      if (!(q >= 0 && q <= 1)) throw std::runtime_error("--q " + t + ": expected 0..1");
      qs.push_back(q);
    }
  }
  if (qs.empty()) throw std::runtime_error("--q: no qualities");
  if (o.crop < 0 || o.crop % 64) throw std::runtime_error("--crop: a multiple of 64, or 0");
  const auto photos = load_photo_list(o.val_list, std::max(o.crop, 64));
  std::cout << "q,bpp,psnr,psnr_unrounded  (" << photos.size() << " photos, "
            << (o.crop ? "centre " + std::to_string(o.crop) + " crops" : std::string("whole"))
            << ", " << o.weights << " step " << (w.meta.count("train.step") ? w.get("train.step") : "?")
            << ")\n";
  for (const double qv : qs) {
    double bpp = 0, psnr = 0, psnr_u = 0;
    for (const auto& p : photos) {
      torch::Tensor x;
      if (o.crop) {
        x = center_crop(p, o.crop).unsqueeze(0);
      } else {
        const int64_t H = p.rgb.size(1) / 64 * 64, W = p.rgb.size(2) / 64 * 64;
        x = p.rgb.slice(1, 0, H).slice(2, 0, W).to(torch::kFloat).div(255).unsqueeze(0);
      }
      const torch::Tensor q = torch::full({1}, qv, x.options());
      const auto out = model->forward_train(x, q, /*use_noise=*/false);
      const auto db = [&](const torch::Tensor& y) { return psnr_db(y.clamp(0, 1), x) / photos.size(); };
      bpp += (out.bits_y + out.bits_z).item<double>() / (x.size(2) * x.size(3)) / photos.size();
      psnr += db(out.x_hat);
      psnr_u += db(model->synthesis(model->analysis(x) * model->gain(q) * model->inverse_gain(q)));
    }
    std::cout << fmt(qv, 3) << "," << fmt(bpp, 4) << "," << fmt(psnr, 4) << "," << fmt(psnr_u, 4)
              << "\n";
  }
  return 0;
}

int convert_codec_checkpoint(const std::string& run_dir, const std::string& name) {
  torch::set_num_threads(2);
  const StateMap state = read_state(run_dir + "/" + name + ".state");
  const models::FatConfig cfg = models::FatConfig::parse(state.at("config"));
  CodecTraining t(cfg, 2e-4, torch::kCPU);
  models::FatCodec& model = t.model;
  torch::optim::Adam &opt = t.opt, &aux_opt = t.aux_opt;
  const bool legacy = checkpoint_is_legacy(run_dir, name);
  load_checkpoint(run_dir, name, *model, {&opt, &aux_opt}, torch::kCPU);
  WeightAverage average(*model, 0.5);  // any decay: only its tensors are used
  const bool has_average = average.load(run_dir, name);
  save_checkpoint(run_dir, name, *model, {&opt, &aux_opt}, state,
                  has_average ? &average.tensors() : nullptr);
  std::cerr << run_dir << "/" << name << ": " << (legacy ? "converted" : "rewritten")
            << " (step " << state.at("step") << (has_average ? ", with" : ", without")
            << " weight average)\n";
  return 0;
}

}  // namespace lucid::train
