#include "train_common.h"

#include "lucid/models/device.h"

#ifndef LUCID_TRAIN_ONLY
#include "lucid/media/image_io.h"
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "checkpoint.h"

namespace fs = std::filesystem;

namespace lucid::train {

std::vector<Photo> load_photo_list(const std::string& list_path, int min_side) {
#ifdef LUCID_TRAIN_ONLY
  (void)min_side;
  throw std::runtime_error("cannot read the image list " + list_path +
                           ": this lucid-train was built with LUCID_TRAIN_ONLY (no image "
                           "decoder); train from packs (--train-pack / --val-pack, made by "
                           "data_scripts/expand_pack.py)");
#else
  std::ifstream in(list_path);
  if (!in) throw std::runtime_error("cannot open image list " + list_path);
  const fs::path base = fs::path(list_path).parent_path();
  std::vector<Photo> photos;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    fs::path p(line);
    if (p.is_relative()) p = base / p;
    // The CLI's reader (lucid::media), so training sees exactly the pixels inference sees
    // (16-bit rounding, no EXIF rotation, opaque-alpha rule).
    media::Image rgb;
    try {
      rgb = media::read_image(p.string());
    } catch (const media::ImageError& e) {
      throw std::runtime_error("cannot read training image " + p.string() + ": " + e.reason());
    }
    if (std::min(rgb.height, rgb.width) < min_side) continue;
    torch::Tensor t = torch::from_blob(rgb.rgb.data(), {rgb.height, rgb.width, 3}, torch::kUInt8)
                          .permute({2, 0, 1})
                          .clone();
    Photo photo;
    photo.path = p.string();
    photo.rgb = t;
    photos.push_back(std::move(photo));
  }
  if (photos.empty()) throw std::runtime_error("no usable images in " + list_path);
  return photos;
#endif
}

std::string dataset_fingerprint(const std::vector<Photo>& photos) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& p : photos) {
    torch::Tensor c = p.rgb.contiguous();
    const auto* d = c.data_ptr<uint8_t>();
    for (int64_t i = 0; i < c.numel(); ++i) {
      h ^= d[i];
      h *= 0x100000001b3ULL;
    }
  }
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << h;
  return s.str();
}

torch::Tensor random_crop(const std::vector<Photo>& photos, int size, std::mt19937_64& rng) {
  const Photo& p = photos[rng() % photos.size()];
  const int64_t H = p.rgb.size(1), W = p.rgb.size(2);
  const int64_t y = static_cast<int64_t>(rng() % (H - size + 1));
  const int64_t x = static_cast<int64_t>(rng() % (W - size + 1));
  torch::Tensor c = p.rgb.slice(1, y, y + size).slice(2, x, x + size);
  if (rng() & 1) c = c.flip({2});
  return c.to(torch::kFloat).div_(255.0);
}

torch::Tensor center_crop(const Photo& p, int size) {
  const int64_t H = p.rgb.size(1), W = p.rgb.size(2);
  const int64_t y = (H - size) / 2, x = (W - size) / 2;
  return p.rgb.slice(1, y, y + size).slice(2, x, x + size).to(torch::kFloat).div(255.0);
}

void write_state(const std::string& path, const StateMap& s) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& [k, v] : s) out << k << '\t' << v << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

StateMap read_state(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  StateMap s;
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) s[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return s;
}

namespace {
std::string opt_path(const std::string& dir, const std::string& name, size_t i) {
  return dir + "/" + name + ".opt" + std::to_string(i) + ".pt";
}
std::string ema_path(const std::string& dir, const std::string& name) {
  return dir + "/" + name + ".ema.pt";
}
std::string model_ckpt(const std::string& dir, const std::string& name) {
  return dir + "/" + name + ".model.ckpt";
}
std::string opt_ckpt(const std::string& dir, const std::string& name, size_t i) {
  return dir + "/" + name + ".opt" + std::to_string(i) + ".ckpt";
}
void commit_file(const std::string& tmp, const std::string& dst) {
  fs::rename(tmp, dst);
}
// Removes dir/name.opt<i>.<ext> for i >= first (a checkpoint set with fewer optimizers).
void remove_optimizer_files(const std::string& dir, const std::string& name, size_t first,
                            const std::string& ext) {
  for (size_t i = first; i < 16; ++i) fs::remove(dir + "/" + name + ".opt" + std::to_string(i) + ext);
}

ckpt::Entry entry(const std::string& name, ckpt::Encoding e, const torch::Tensor& cpu,
                  torch::Tensor* decoded, const torch::Tensor* v = nullptr) {
  ckpt::Entry out;
  out.name = name;
  out.encoding = e;
  out.shape = cpu.sizes().vec();
  try {
    out.bytes = ckpt::encode(cpu, e, decoded, v);
  } catch (const std::exception& ex) {
    throw std::runtime_error("cannot save tensor " + name + ": " + ex.what() +
                             " (has training diverged?)");
  }
  return out;
}

torch::Tensor cpu_float(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat).contiguous();
}

// The compact model file: live weights ("p:NAME"), buffers ("b:NAME") and the weight average
// ("ema:NAME", a q8 difference to the stored weights). Rounds the live tensors in place.
ckpt::File compact_model(torch::nn::Module& module, const std::vector<torch::Tensor>* averaged) {
  torch::NoGradGuard ng;
  ckpt::File f;
  const auto params = module.named_parameters(true);
  if (averaged && averaged->size() != params.size())
    throw std::runtime_error("weight average does not match the model");
  size_t i = 0;
  for (const auto& p : params) {
    const torch::Tensor cpu = cpu_float(p.value());
    torch::Tensor dec;
    f.entries.push_back(entry("p:" + p.key(), ckpt::weight_encoding(cpu), cpu, &dec));
    p.value().detach().copy_(dec);
    if (averaged) {
      const torch::Tensor& a = (*averaged)[i];
      const torch::Tensor acpu = cpu_float(a);
      torch::Tensor adec;
      if (ckpt::is_large(acpu) && f.entries.back().encoding != ckpt::Encoding::kF32) {
        torch::Tensor ddec;
        f.entries.push_back(entry("ema:" + p.key(), ckpt::Encoding::kQ8, acpu - dec, &ddec));
        adec = dec + ddec;
      } else {
        f.entries.push_back(entry("ema:" + p.key(), ckpt::Encoding::kF32, acpu, &adec));
      }
      a.detach().copy_(adec);
    }
    ++i;
  }
  for (const auto& b : module.named_buffers(true)) {
    const torch::Tensor cpu = cpu_float(b.value());
    f.entries.push_back(entry("b:" + b.key(), ckpt::Encoding::kF32, cpu, nullptr));
  }
  return f;
}

torch::optim::Adam& as_adam(torch::optim::Optimizer& o) {
  auto* adam = dynamic_cast<torch::optim::Adam*>(&o);
  if (!adam) throw std::runtime_error("compact checkpoints hold Adam optimizers only");
  return *adam;
}

// The compact optimizer file: per group its options, per parameter with a state its step, and
// exp_avg (q8) / exp_avg_sq (log8). Rounds the live state in place.
ckpt::File compact_optimizer(torch::optim::Optimizer& o) {
  torch::NoGradGuard ng;
  auto& opt = as_adam(o);
  ckpt::File f;
  f.meta["optimizer"] = "adam";
  f.meta["groups"] = std::to_string(opt.param_groups().size());
  for (size_t g = 0; g < opt.param_groups().size(); ++g) {
    const auto& group = opt.param_groups()[g];
    const auto& op = static_cast<const torch::optim::AdamOptions&>(group.options());
    const std::string G = "g" + std::to_string(g);
    f.meta[G + ".params"] = std::to_string(group.params().size());
    f.meta[G + ".lr"] = fmt(op.lr(), 17);
    f.meta[G + ".beta1"] = fmt(std::get<0>(op.betas()), 17);
    f.meta[G + ".beta2"] = fmt(std::get<1>(op.betas()), 17);
    f.meta[G + ".eps"] = fmt(op.eps(), 17);
    f.meta[G + ".weight_decay"] = fmt(op.weight_decay(), 17);
    f.meta[G + ".amsgrad"] = op.amsgrad() ? "1" : "0";
    for (size_t j = 0; j < group.params().size(); ++j) {
      const torch::Tensor& p = group.params()[j];
      auto it = opt.state().find(p.unsafeGetTensorImpl());
      if (it == opt.state().end()) continue;
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      const std::string P = G + ".p" + std::to_string(j);
      f.meta[P + ".step"] = std::to_string(st.step());
      const bool large = ckpt::is_large(p);
      torch::Tensor v_dec;  // exp_avg is stored relative to the stored exp_avg_sq
      auto put = [&](const char* what, const torch::Tensor& t, ckpt::Encoding big,
                     torch::Tensor* keep = nullptr) {
        if (!t.defined()) return;
        torch::Tensor dec;
        f.entries.push_back(entry(P + "." + what, large ? big : ckpt::Encoding::kF32,
                                  cpu_float(t), &dec, &v_dec));
        t.copy_(dec);
        if (keep) *keep = dec;
      };
      put("exp_avg_sq", st.exp_avg_sq(), ckpt::Encoding::kLog8, &v_dec);
      put("exp_avg", st.exp_avg(), ckpt::Encoding::kR4);
      put("max_exp_avg_sq", st.max_exp_avg_sq(), ckpt::Encoding::kLog8);
    }
  }
  return f;
}

void check_step(const ckpt::File& f, const std::string& path, const StateMap& state) {
  const auto a = f.meta.find("step");
  const auto b = state.find("step");
  if (a != f.meta.end() && b != state.end() && a->second != b->second)
    throw std::runtime_error(path + " is from step " + a->second + " but its .state from step " +
                             b->second + " (an interrupted save?)");
}

void load_compact_model(const ckpt::File& f, const std::string& path, torch::nn::Module& module) {
  torch::NoGradGuard ng;
  size_t expected = 0;
  auto load = [&](const std::string& key, const torch::Tensor& dst) {
    const ckpt::Entry* e = f.find(key);
    if (!e) throw std::runtime_error(path + ": no tensor " + key.substr(2) + " (another model?)");
    if (e->shape != dst.sizes().vec())
      throw std::runtime_error(path + ": tensor " + key.substr(2) + " has shape " +
                               c10::str(c10::IntArrayRef(e->shape)) + ", the model " +
                               c10::str(dst.sizes()));
    dst.detach().copy_(ckpt::decode(*e));
    ++expected;
  };
  for (const auto& p : module.named_parameters(true)) load("p:" + p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) load("b:" + b.key(), b.value());
  size_t stored = 0;
  for (const auto& e : f.entries)
    if (e.name.rfind("p:", 0) == 0 || e.name.rfind("b:", 0) == 0) ++stored;
  if (stored != expected)
    throw std::runtime_error(path + ": holds " + std::to_string(stored) + " tensors, the model " +
                             std::to_string(expected));
}

void load_compact_optimizer(const ckpt::File& f, const std::string& path,
                            torch::optim::Optimizer& o) {
  auto& opt = as_adam(o);
  auto meta = [&](const std::string& k) {
    const auto it = f.meta.find(k);
    if (it == f.meta.end()) throw std::runtime_error(path + ": no " + k);
    return it->second;
  };
  if (meta("optimizer") != "adam" ||
      std::stoul(meta("groups")) != opt.param_groups().size())
    throw std::runtime_error(path + ": optimizer groups do not match");
  opt.state().clear();
  for (size_t g = 0; g < opt.param_groups().size(); ++g) {
    auto& group = opt.param_groups()[g];
    const std::string G = "g" + std::to_string(g);
    if (std::stoul(meta(G + ".params")) != group.params().size())
      throw std::runtime_error(path + ": optimizer group " + std::to_string(g) +
                               " has another parameter count");
    auto& op = static_cast<torch::optim::AdamOptions&>(group.options());
    op.lr(std::stod(meta(G + ".lr")));
    op.betas(std::make_tuple(std::stod(meta(G + ".beta1")), std::stod(meta(G + ".beta2"))));
    op.eps(std::stod(meta(G + ".eps")));
    op.weight_decay(std::stod(meta(G + ".weight_decay")));
    op.amsgrad(meta(G + ".amsgrad") == "1");
    for (size_t j = 0; j < group.params().size(); ++j) {
      const torch::Tensor& p = group.params()[j];
      const std::string P = G + ".p" + std::to_string(j);
      if (!f.meta.count(P + ".step")) continue;
      torch::Tensor v_dec;
      auto get = [&](const char* what, bool required) {
        const ckpt::Entry* e = f.find(P + "." + what);
        if (!e) {
          if (required) throw std::runtime_error(path + ": no " + P + "." + what);
          return torch::Tensor();
        }
        if (e->shape != p.sizes().vec())
          throw std::runtime_error(path + ": " + P + "." + what + " does not match its parameter");
        return ckpt::decode(*e, &v_dec);
      };
      auto st = std::make_unique<torch::optim::AdamParamState>();
      st->step(std::stoll(meta(P + ".step")));
      v_dec = get("exp_avg_sq", true);
      st->exp_avg(get("exp_avg", true).to(p.device()));
      st->exp_avg_sq(v_dec.to(p.device()));
      torch::Tensor mx = get("max_exp_avg_sq", false);
      if (mx.defined()) st->max_exp_avg_sq(mx.to(p.device()));
      opt.state()[p.unsafeGetTensorImpl()] = std::move(st);
    }
  }
}
// Adam state from a legacy LibTorch archive. Not Optimizer::load: archives written by LibTorch
// 1.x (Debian 12's, which trained the committed checkpoints) name parameters by hexadecimal
// pointers ("0x5646..."), which LibTorch 2.x parses as decimal, so every parameter but one lost
// its state (and Adam then crashed). Keys are parsed in either base here.
void load_legacy_adam(const std::string& path, torch::optim::Optimizer& o, torch::Device device) {
  auto& opt = as_adam(o);
  torch::serialize::InputArchive a;
  a.load_from(path, device);
  c10::IValue version;
  if (!a.try_read("pytorch_version", version))
    throw std::runtime_error(path + ": optimizer archive from before LibTorch 1.5");
  torch::serialize::InputArchive states;
  a.read("state", states);
  std::map<uint64_t, std::unique_ptr<torch::optim::AdamParamState>> saved;
  for (const std::string& key : states.keys()) {
    torch::serialize::InputArchive one;
    states.read(key, one);
    auto st = std::make_unique<torch::optim::AdamParamState>();
    st->serialize(one);
    saved[std::stoull(key, nullptr, 0)] = std::move(st);
  }
  torch::serialize::InputArchive groups;
  a.read("param_groups", groups);
  torch::Tensor n;
  groups.read("param_groups/size", n);
  if (n.item<int64_t>() != static_cast<int64_t>(opt.param_groups().size()))
    throw std::runtime_error(path + ": optimizer groups do not match");
  opt.state().clear();
  for (size_t g = 0; g < opt.param_groups().size(); ++g) {
    auto& group = opt.param_groups()[g];
    torch::serialize::InputArchive ga;
    groups.read("param_groups/" + std::to_string(g), ga);
    torch::Tensor size;
    ga.read("params/size", size);
    if (size.item<int64_t>() != static_cast<int64_t>(group.params().size()))
      throw std::runtime_error(path + ": optimizer group " + std::to_string(g) +
                               " has another parameter count");
    for (size_t j = 0; j < group.params().size(); ++j) {
      c10::IValue key;
      ga.read("params/" + std::to_string(j), key);
      auto it = saved.find(std::stoull(key.toStringRef(), nullptr, 0));
      if (it == saved.end()) continue;
      if (!it->second) throw std::runtime_error(path + ": two parameters share one state");
      const torch::Tensor& p = group.params()[j];
      if (!it->second->exp_avg().defined() || it->second->exp_avg().sizes() != p.sizes())
        throw std::runtime_error(path + ": the state of parameter " + std::to_string(j) +
                                 " does not match it");
      opt.state()[p.unsafeGetTensorImpl()] = std::move(it->second);
    }
    torch::serialize::InputArchive oa;
    ga.read("options", oa);
    torch::optim::AdamOptions options(0);
    options.serialize(oa);
    static_cast<torch::optim::AdamOptions&>(group.options()) = options;
  }
}
}  // namespace

CheckpointFormat parse_checkpoint_format(const std::string& s) {
  if (s == "compact") return CheckpointFormat::kCompact;
  if (s == "legacy") return CheckpointFormat::kLegacy;
  throw std::invalid_argument("checkpoint format " + s + ": expected compact or legacy");
}

void round_to_checkpoint(torch::nn::Module& module,
                         std::vector<torch::optim::Optimizer*> optimizers,
                         const std::vector<torch::Tensor>* averaged) {
  compact_model(module, averaged);
  for (auto* o : optimizers) compact_optimizer(*o);
}

void save_checkpoint(const std::string& dir, const std::string& name, torch::nn::Module& module,
                     std::vector<torch::optim::Optimizer*> optimizers, const StateMap& state,
                     const std::vector<torch::Tensor>* averaged, CheckpointFormat format) {
  fs::create_directories(dir);
  const std::string state_path = dir + "/" + name + ".state";
  // Write everything to temporaries first so a crash never leaves a mixed checkpoint behind
  // (the .state file is renamed last and names the step the set belongs to).
  if (format == CheckpointFormat::kCompact) {
    const std::string step = state.count("step") ? state.at("step") : "";
    ckpt::File model = compact_model(module, averaged);
    model.meta["step"] = step;
    model.meta["kind"] = "model";
    ckpt::write_file(model_ckpt(dir, name) + ".tmp", model);
    for (size_t i = 0; i < optimizers.size(); ++i) {
      ckpt::File opt = compact_optimizer(*optimizers[i]);
      opt.meta["step"] = step;
      opt.meta["kind"] = "optimizer";
      ckpt::write_file(opt_ckpt(dir, name, i) + ".tmp", opt);
    }
    write_state(state_path + ".tmp", state);
    commit_file(model_ckpt(dir, name) + ".tmp", model_ckpt(dir, name));
    for (size_t i = 0; i < optimizers.size(); ++i)
      commit_file(opt_ckpt(dir, name, i) + ".tmp", opt_ckpt(dir, name, i));
    remove_optimizer_files(dir, name, optimizers.size(), ".ckpt");
    commit_file(state_path + ".tmp", state_path);
    // The legacy files of an earlier save would only be confusing now.
    fs::remove(dir + "/" + name + ".model.pt");
    fs::remove(ema_path(dir, name));
    remove_optimizer_files(dir, name, 0, ".pt");
    return;
  }
  const std::string model = dir + "/" + name + ".model.pt";
  {
    torch::serialize::OutputArchive a;
    module.save(a);
    a.save_to(model + ".tmp");
  }
  for (size_t i = 0; i < optimizers.size(); ++i) {
    torch::serialize::OutputArchive a;
    optimizers[i]->save(a);
    a.save_to(opt_path(dir, name, i) + ".tmp");
  }
  const std::string ema = ema_path(dir, name);
  if (averaged) torch::save(*averaged, ema + ".tmp");
  write_state(state_path + ".tmp", state);
  commit_file(model + ".tmp", model);
  if (averaged)
    commit_file(ema + ".tmp", ema);
  else
    fs::remove(ema);  // an average from an earlier run would no longer match these weights
  for (size_t i = 0; i < optimizers.size(); ++i)
    commit_file(opt_path(dir, name, i) + ".tmp", opt_path(dir, name, i));
  commit_file(state_path + ".tmp", state_path);
  fs::remove(model_ckpt(dir, name));
  remove_optimizer_files(dir, name, 0, ".ckpt");
}

bool checkpoint_exists(const std::string& dir, const std::string& name) {
  return fs::exists(dir + "/" + name + ".state") &&
         (fs::exists(model_ckpt(dir, name)) || fs::exists(dir + "/" + name + ".model.pt"));
}

bool checkpoint_is_legacy(const std::string& dir, const std::string& name) {
  return !fs::exists(model_ckpt(dir, name)) && fs::exists(dir + "/" + name + ".model.pt");
}

StateMap load_checkpoint(const std::string& dir, const std::string& name,
                         torch::nn::Module& module,
                         std::vector<torch::optim::Optimizer*> optimizers,
                         torch::Device device) {
  StateMap state = read_state(dir + "/" + name + ".state");
  if (!checkpoint_is_legacy(dir, name)) {
    const std::string mp = model_ckpt(dir, name);
    const ckpt::File model = ckpt::read_file(mp);
    check_step(model, mp, state);
    load_compact_model(model, mp, module);
    for (size_t i = 0; i < optimizers.size(); ++i) {
      const std::string p = opt_ckpt(dir, name, i);
      if (!fs::exists(p)) continue;  // e.g. exported without optimizer state
      const ckpt::File opt = ckpt::read_file(p);
      check_step(opt, p, state);
      load_compact_optimizer(opt, p, *optimizers[i]);
    }
    return state;
  }
  {
    torch::serialize::InputArchive a;
    a.load_from(dir + "/" + name + ".model.pt", device);
    module.load(a);
  }
  for (size_t i = 0; i < optimizers.size(); ++i) {
    const std::string p = opt_path(dir, name, i);
    if (!fs::exists(p)) continue;  // e.g. a checkpoint from an earlier version without it
    load_legacy_adam(p, *optimizers[i], device);
  }
  return state;
}

WeightAverage::WeightAverage(torch::nn::Module& module, double decay)
    : live_(module.parameters()), decay_(decay) {
  for (const auto& p : module.named_parameters(true)) names_.push_back(p.key());
  if (!enabled()) return;
  for (const auto& p : live_) avg_.push_back(p.detach().clone());
}

void WeightAverage::update(int64_t step) {
  if (!enabled()) return;
  torch::NoGradGuard ng;
  const double d = std::min(decay_, (1.0 + static_cast<double>(step)) / (10.0 + step));
  for (size_t i = 0; i < live_.size(); ++i) avg_[i].mul_(d).add_(live_[i].detach(), 1.0 - d);
}

void WeightAverage::swap() {
  if (!enabled()) return;
  torch::NoGradGuard ng;
  for (size_t i = 0; i < live_.size(); ++i) {
    torch::Tensor t = live_[i].detach().clone();
    live_[i].detach().copy_(avg_[i]);
    avg_[i].copy_(t);
  }
}

bool WeightAverage::load(const std::string& dir, const std::string& name) {
  if (!enabled()) return false;
  if (!checkpoint_is_legacy(dir, name)) {
    const std::string mp = model_ckpt(dir, name);
    if (!fs::exists(mp)) return false;
    const ckpt::File f = ckpt::read_file(mp);
    // A shelved checkpoint (shelve_checkpoint) stores the average as the weights themselves.
    const auto shelved = f.meta.find("average");
    const bool is_live = shelved != f.meta.end() && shelved->second == "live";
    std::vector<torch::Tensor> t;
    for (size_t i = 0; i < names_.size(); ++i) {
      const ckpt::Entry* e = f.find((is_live ? "p:" : "ema:") + names_[i]);
      if (!e || e->shape != live_[i].sizes().vec()) return false;
      torch::Tensor v = ckpt::decode(*e);
      if (!is_live && e->encoding == ckpt::Encoding::kQ8)
        v = f.tensor("p:" + names_[i]) + v;  // a difference
      t.push_back(v);
    }
    torch::NoGradGuard ng;
    for (size_t i = 0; i < t.size(); ++i) avg_[i].copy_(t[i]);
    return true;
  }
  const std::string path = ema_path(dir, name);
  if (!fs::exists(path)) return false;
  std::vector<torch::Tensor> t;
  torch::load(t, path);
  if (t.size() != live_.size()) return false;
  for (size_t i = 0; i < t.size(); ++i)
    if (!t[i].sizes().equals(live_[i].sizes())) return false;
  torch::NoGradGuard ng;
  for (size_t i = 0; i < t.size(); ++i) avg_[i].copy_(t[i]);
  return true;
}

namespace {
// Copies a file byte for byte (std::filesystem::copy_file is avoided, see rm_rf in the tests:
// LibTorch's wheel exports an older std::filesystem).
void copy_bytes(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + from);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  out.close();
  if (!out) throw std::runtime_error("cannot write " + to);
}
}  // namespace

void shelve_checkpoint(const std::string& run, const std::string& out, const std::string& name) {
  if (!checkpoint_exists(run, name))
    throw std::runtime_error("no checkpoint " + run + "/" + name);
  if (checkpoint_is_legacy(run, name))
    throw std::runtime_error(run + "/" + name +
                             " is a legacy checkpoint: convert it first (convert-checkpoint)");
  fs::create_directories(out);
  if (fs::equivalent(run, out))
    throw std::runtime_error("--out must be another folder than --run");
  const std::string mp = model_ckpt(run, name);
  const ckpt::File f = ckpt::read_file(mp);
  check_step(f, mp, read_state(run + "/" + name + ".state"));
  ckpt::File shelved;
  shelved.meta = f.meta;
  bool averaged = false;
  for (const auto& e : f.entries) {
    if (e.name.rfind("ema:", 0) == 0) continue;
    const ckpt::Entry* avg =
        e.name.rfind("p:", 0) == 0 ? f.find("ema:" + e.name.substr(2)) : nullptr;
    if (!avg) {
      shelved.entries.push_back(e);
      continue;
    }
    torch::Tensor a = ckpt::decode(*avg);
    if (avg->encoding == ckpt::Encoding::kQ8) a = ckpt::decode(e) + a;  // a difference
    torch::Tensor unused;
    shelved.entries.push_back(entry(e.name, ckpt::weight_encoding(a), a, &unused));
    averaged = true;
  }
  if (averaged) shelved.meta["average"] = "live";
  // The state is written last, as a save does: a folder with a .state names a complete set.
  const std::string state = out + "/" + name + ".state";
  fs::remove(state);
  ckpt::write_file(model_ckpt(out, name) + ".tmp", shelved);
  commit_file(model_ckpt(out, name) + ".tmp", model_ckpt(out, name));
  size_t n = 0;
  for (; fs::exists(opt_ckpt(run, name, n)); ++n) copy_bytes(opt_ckpt(run, name, n), opt_ckpt(out, name, n));
  remove_optimizer_files(out, name, n, ".ckpt");
  fs::remove(out + "/" + name + ".model.pt");
  fs::remove(ema_path(out, name));
  remove_optimizer_files(out, name, 0, ".pt");
  if (fs::exists(run + "/train.csv")) copy_bytes(run + "/train.csv", out + "/train.csv");
  copy_bytes(run + "/" + name + ".state", state + ".tmp");
  commit_file(state + ".tmp", state);
}

std::string rng_to_string(const std::mt19937_64& rng) {
  std::ostringstream s;
  s << rng;
  return s.str();
}

void rng_from_string(std::mt19937_64& rng, const std::string& s) {
  std::istringstream in(s);
  in >> rng;
}

CsvLog::CsvLog(const std::string& path, const std::string& header) {
  const bool fresh = !fs::exists(path) || fs::file_size(path) == 0;
  out_.open(path, std::ios::app);
  if (!out_) throw std::runtime_error("cannot open log " + path);
  if (fresh) out_ << header << '\n' << std::flush;
}

void CsvLog::row(const std::string& line) { out_ << line << '\n' << std::flush; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

ValidationRow validation_row_at(const std::string& run_dir, int64_t step) {
  ValidationRow v;
  std::ifstream csv(run_dir + "/train.csv");
  std::string line;
  if (!std::getline(csv, line)) return v;
  v.columns = line;
  while (std::getline(csv, line)) {
    if (line.rfind("val,", 0) != 0) continue;
    try {
      if (std::stoll(line.substr(4)) <= step) v.row = line;
    } catch (const std::exception&) {  // a torn last line: skip it
    }
  }
  return v;
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string device_description(torch::Device d, int threads) {
  if (d.is_cuda()) return "cuda";
  return "cpu x" + std::to_string(threads) + " threads";
}

void set_lr(torch::optim::Adam& opt, double lr) {
  for (auto& g : opt.param_groups())
    static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

void enable_fast_cuda(bool on, torch::Device dev) {
  if (!on || !dev.is_cuda()) return;
  at::globalContext().setFloat32MatmulPrecision("high");
  at::globalContext().setBenchmarkCuDNN(true);
  std::cerr << "cuda: TF32 matmuls, cuDNN autotuning\n";
}

namespace {
// dst's leading block of src's shape (src no larger than dst in any dimension).
torch::Tensor leading_block(torch::Tensor dst, const torch::Tensor& src) {
  for (int64_t d = 0; d < src.dim(); ++d) dst = dst.narrow(d, 0, src.size(d));
  return dst;
}
}  // namespace

void migrate_adam_state(torch::nn::Module& from, torch::optim::Adam& from_opt,
                        torch::nn::Module& to, torch::optim::Adam& to_opt) {
  auto old_params = from.named_parameters(true);
  for (auto& p : to.named_parameters(true)) {
    const torch::Tensor* q = old_params.find(p.key());
    if (!q) continue;
    auto it = from_opt.state().find(q->unsafeGetTensorImpl());
    if (it == from_opt.state().end()) continue;
    const auto& st = static_cast<const torch::optim::AdamParamState&>(*it->second);
    const torch::Tensor& v = p.value();
    if (q->dim() != v.dim())
      throw std::logic_error("migrate_adam_state: " + p.key() + " changed rank");
    for (int64_t d = 0; d < v.dim(); ++d)
      if (q->size(d) > v.size(d))
        throw std::logic_error("migrate_adam_state: " + p.key() + " shrank");
    auto grow = [&](const torch::Tensor& m) {
      torch::Tensor out = torch::zeros_like(v);
      leading_block(out, m).copy_(m.to(v.device()));
      return out;
    };
    auto ns = std::make_unique<torch::optim::AdamParamState>();
    ns->step(st.step());
    ns->exp_avg(grow(st.exp_avg()));
    ns->exp_avg_sq(grow(st.exp_avg_sq()));
    if (st.max_exp_avg_sq().defined()) ns->max_exp_avg_sq(grow(st.max_exp_avg_sq()));
    to_opt.state()[v.unsafeGetTensorImpl()] = std::move(ns);
  }
}

}  // namespace lucid::train

namespace lucid::train {

std::string fmt(double v, int prec) {
  std::ostringstream s;
  s.precision(prec);
  s << v;
  return s.str();
}

namespace {
constexpr double kMseFloor = 1e-12;
}

double psnr_db(double mse) { return -10 * std::log10(std::max(mse, kMseFloor)); }

double psnr_db(const torch::Tensor& a, const torch::Tensor& b) {
  return psnr_db((a - b).pow(2).mean().item<double>());
}

torch::Tensor psnr_db_each(const torch::Tensor& mse) {
  return -10 * torch::log10(mse.clamp_min(kMseFloor));
}

double gain_db(double mse_in, double mse_out) { return psnr_db(mse_out) - psnr_db(mse_in); }

bool start_device(const TrainRunOptions& o, torch::Device* dev) {
  torch::set_num_threads(o.threads);
  *dev = torch::Device(o.device == "cuda" ? torch::kCUDA : torch::kCPU);
  if (dev->is_cuda() && models::cuda_device_count() == 0) {
    std::cerr << "error: --device cuda: no usable CUDA device ("
              << models::cuda_unavailable_reason() << ")\n";
    return false;
  }
  enable_fast_cuda(o.cuda_fast, *dev);
  return true;
}

void Progress::resume(const StateMap& prior, const std::string& run_dir, double reset_lr) {
  step = std::stoll(prior.at("step"));
  wall = std::stod(prior.at("wall_seconds"));
  best_val = std::stod(prior.at("best_val"));
  lr = std::stod(prior.at("lr"));
  bad_evals = std::stoi(prior.at("bad_evals"));
  rng_from_string(rng, prior.at("rng"));
  std::cerr << "resumed " << run_dir << " at step " << step << " (" << fmt(wall / 3600, 3)
            << " h trained, lr " << lr << ")\n";
  if (reset_lr > 0) {
    lr = reset_lr;
    bad_evals = 0;
    std::cerr << "learning rate reset to " << lr << "\n";
  }
}

void Progress::check_val_set(const StateMap& prior, const std::string& val_fingerprint,
                             bool reset_best) {
  const auto it = prior.find("val_dataset");
  if (it != prior.end() && it->second != val_fingerprint) {
    std::cerr << "note: the validation set changed since the last checkpoint (" << it->second
              << " -> " << val_fingerprint << "): the best score so far is reset\n";
    forget_best();
  }
  if (reset_best) forget_best();
}

void Progress::forget_best() {
  best_val = 1e30;
  bad_evals = 0;
}

bool Progress::judge(double score, int patience) {
  if (score < best_val) {
    best_val = score;
    bad_evals = 0;
    return true;
  }
  if (++bad_evals >= patience) {
    lr = std::max(lr * 0.5, 1e-6);
    bad_evals = 0;
    std::cerr << "validation plateau: lr -> " << lr << "\n";
  }
  return false;
}

StateMap Progress::state(const std::string& config, const std::string& dataset,
                         const std::string& val_dataset, const std::string& device) const {
  return StateMap{{"config", config},         {"step", std::to_string(step)},
                  {"wall_seconds", fmt(wall, 12)}, {"best_val", fmt(best_val, 12)},
                  {"lr", fmt(lr, 12)},         {"bad_evals", std::to_string(bad_evals)},
                  {"rng", rng_to_string(rng)}, {"dataset", dataset},
                  {"val_dataset", val_dataset}, {"device", device},
                  {"updated", now_iso8601()}};
}

TrainClock::TrainClock(double minutes, int64_t max_steps, double eval_minutes,
                       double checkpoint_minutes, int64_t checkpoint_steps)
    : minutes_(minutes),
      eval_minutes_(eval_minutes),
      checkpoint_minutes_(checkpoint_minutes),
      max_steps_(max_steps),
      checkpoint_steps_(checkpoint_steps) {
  restart();
}

void TrainClock::restart() { start_ = last_eval_ = last_ckpt_ = std::chrono::steady_clock::now(); }

double TrainClock::seconds() const { return seconds_since(start_); }

bool TrainClock::finished(int64_t step) const {
  return (minutes_ > 0 && seconds() >= minutes_ * 60) || (max_steps_ > 0 && step >= max_steps_);
}

bool TrainClock::eval_due() {
  if (seconds_since(last_eval_) < eval_minutes_ * 60) return false;
  last_eval_ = std::chrono::steady_clock::now();
  return true;
}

void TrainClock::checkpoint_saved() { last_ckpt_ = std::chrono::steady_clock::now(); }

bool TrainClock::checkpoint_due(int64_t step) {
  if (seconds_since(last_ckpt_) < checkpoint_minutes_ * 60 &&
      !(checkpoint_steps_ > 0 && step % checkpoint_steps_ == 0))
    return false;
  last_ckpt_ = std::chrono::steady_clock::now();
  return true;
}

namespace {
// A state value as its ledger entry: a number where the text is one, else the text. Fingerprints
// are hex text even when every digit happens to be decimal.
nlohmann::ordered_json ledger_value(const std::string& key, const std::string& v) {
  if (key.find("dataset") == std::string::npos && !v.empty() &&
      v.find_first_not_of("0123456789.-e+") == std::string::npos) {
    char* end = nullptr;
    errno = 0;  // out of range: kept as text
    const long long i = std::strtoll(v.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0) return i;
    errno = 0;
    const double d = std::strtod(v.c_str(), &end);
    if (end && *end == '\0' && errno == 0 && std::isfinite(d)) return d;
  }
  return v;
}
}  // namespace

static bool internal_key(const std::string& k) {
  return k == "rng" || k == "config" || k == "best_val" || k == "bad_evals";
}

void save_export(const ExportSpec& spec, torch::nn::Module& model, const StateMap& state,
                 models::WeightFile& w) {
  w.meta["arch"] = spec.arch;
  w.meta["model_id"] = spec.model_id;
  w.meta["config"] = spec.config;
  for (const auto& [k, v] : state)
    if (!internal_key(k)) w.meta["train." + k] = v;
  models::save_weights(spec.out, w, spec.fp16);
  int64_t params = 0;
  for (const auto& t : model.parameters()) params += t.numel();
  const std::string hash = models::hash_hex(w.hash);
  const std::string step = state.count("step") ? state.at("step") : "0";
  std::cerr << "wrote " << spec.out << " (" << fs::file_size(spec.out) << " bytes, " << params
            << " parameters, step " << step << ", hash " << hash << ")\n";
  if (spec.ledger.empty()) return;

  nlohmann::ordered_json j;
  j["model_id"] = spec.model_id;
  j["arch"] = spec.arch;
  j["file"] = fs::path(spec.out).filename().string();
  j["file_bytes"] = static_cast<int64_t>(fs::file_size(spec.out));
  j["weight_hash"] = hash;
  j["parameters"] = params;
  j["config"] = spec.config;
  j["checkpoint"] = spec.checkpoint;
  // The file's own settings beside arch, id and config (e.g. the video restorer's qp_gate).
  for (const auto& [k, v] : w.meta)
    if (k != "arch" && k != "model_id" && k != "config" && k.rfind("train.", 0) != 0) j[k] = v;
  for (const auto& [k, v] : state)
    if (!internal_key(k)) j[k] = ledger_value(k, v);
  if (state.count("wall_seconds"))
    j["hours_trained"] = std::stod(fmt(std::stod(state.at("wall_seconds")) / 3600, 4));
  const ValidationRow v = validation_row_at(spec.run_dir, std::stoll(step));
  j["dataset_manifest"] = spec.dataset_manifest;
  j["validation"] = {{"columns", v.columns}, {"row", v.row}};
  std::ofstream f(spec.ledger, std::ios::trunc);
  f << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  if (!f) throw std::runtime_error("cannot write " + spec.ledger);
  std::cerr << "wrote " << spec.ledger << "\n";
}

}  // namespace lucid::train
