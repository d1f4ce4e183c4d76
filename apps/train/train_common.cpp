#include "train_common.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace lucid::train {

std::vector<Photo> load_photo_list(const std::string& list_path, int min_side) {
  std::ifstream in(list_path);
  if (!in) throw std::runtime_error("cannot open image list " + list_path);
  const fs::path base = fs::path(list_path).parent_path();
  std::vector<Photo> photos;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    fs::path p(line);
    if (p.is_relative()) p = base / p;
    cv::Mat bgr = cv::imread(p.string(), cv::IMREAD_COLOR);
    if (bgr.empty()) throw std::runtime_error("cannot read training image " + p.string());
    if (std::min(bgr.rows, bgr.cols) < min_side) continue;
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    torch::Tensor t = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8)
                          .permute({2, 0, 1})
                          .clone();
    photos.push_back({p.string(), t});
  }
  if (photos.empty()) throw std::runtime_error("no usable images in " + list_path);
  return photos;
}

void apply_lr_reset(double reset_lr, double* lr, int* bad_evals) {
  if (reset_lr <= 0) return;
  *lr = reset_lr;
  *bad_evals = 0;
  std::cerr << "learning rate reset to " << *lr << "\n";
}

void reconcile_val_set(const StateMap& prior, const std::string& val_fingerprint,
                       double* best_val, int* bad_evals) {
  const auto it = prior.find("val_dataset");
  if (it == prior.end() || it->second == val_fingerprint) return;
  std::cerr << "note: the validation set changed since the last checkpoint (" << it->second
            << " -> " << val_fingerprint << "): the best score so far is reset\n";
  *best_val = 1e30;
  *bad_evals = 0;
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
void commit_file(const std::string& tmp, const std::string& dst) {
  fs::rename(tmp, dst);
}
}  // namespace

void save_checkpoint(const std::string& dir, const std::string& name, torch::nn::Module& module,
                     std::vector<torch::optim::Optimizer*> optimizers, const StateMap& state,
                     const std::vector<torch::Tensor>* averaged) {
  fs::create_directories(dir);
  // Write everything to temporaries first so a crash never leaves a mixed checkpoint behind
  // (the .state file is renamed last and names the step the set belongs to).
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
  write_state(dir + "/" + name + ".state.tmp", state);
  commit_file(model + ".tmp", model);
  if (averaged)
    commit_file(ema + ".tmp", ema);
  else
    fs::remove(ema);  // an average from an earlier run would no longer match these weights
  for (size_t i = 0; i < optimizers.size(); ++i)
    commit_file(opt_path(dir, name, i) + ".tmp", opt_path(dir, name, i));
  commit_file(dir + "/" + name + ".state.tmp", dir + "/" + name + ".state");
}

bool checkpoint_exists(const std::string& dir, const std::string& name) {
  return fs::exists(dir + "/" + name + ".state") && fs::exists(dir + "/" + name + ".model.pt");
}

StateMap load_checkpoint(const std::string& dir, const std::string& name,
                         torch::nn::Module& module,
                         std::vector<torch::optim::Optimizer*> optimizers,
                         torch::Device device) {
  {
    torch::serialize::InputArchive a;
    a.load_from(dir + "/" + name + ".model.pt", device);
    module.load(a);
  }
  for (size_t i = 0; i < optimizers.size(); ++i) {
    const std::string p = opt_path(dir, name, i);
    if (!fs::exists(p)) continue;  // e.g. a checkpoint from an earlier version without it
    torch::serialize::InputArchive a;
    a.load_from(p, device);
    optimizers[i]->load(a);
  }
  return read_state(dir + "/" + name + ".state");
}

WeightAverage::WeightAverage(torch::nn::Module& module, double decay)
    : live_(module.parameters()), decay_(decay) {
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

}  // namespace lucid::train
