// Shared training infrastructure for lucid-train: photo dataset in memory, random crops,
// checkpoint/resume (model + optimizer + trainer state, written atomically), CSV logging and
// the ledger that ships beside the weights.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace lucid::train {

struct Photo {
  std::string path;
  torch::Tensor rgb;  // uint8 [3, H, W]
};

// Reads a list file (one image path per line; relative paths are taken relative to the list's
// folder). Throws std::runtime_error with the offending path.
std::vector<Photo> load_photo_list(const std::string& list_path, int min_side);
// SHA-like content fingerprint of the dataset (FNV-1a over file bytes, in list order), hex.
std::string dataset_fingerprint(const std::vector<Photo>& photos);

// Random crop (and horizontal flip) of `size` x `size` from a random photo, as float [3,s,s]
// in [0, 1].
torch::Tensor random_crop(const std::vector<Photo>& photos, int size, std::mt19937_64& rng);
// Deterministic centre crop.
torch::Tensor center_crop(const Photo& p, int size);

// Key/value trainer state persisted with each checkpoint.
using StateMap = std::map<std::string, std::string>;
// Validation scores from another validation set are not comparable: when the checkpoint records
// a different "val_dataset", forget its best score (the next evaluation becomes the best).
void reconcile_val_set(const StateMap& prior, const std::string& val_fingerprint,
                       double* best_val, int* bad_evals);
// On resume with --reset-lr X (X > 0): use X instead of the checkpoint's rate and restart the
// plateau count.
void apply_lr_reset(double reset_lr, double* lr, int* bad_evals);
void write_state(const std::string& path, const StateMap& s);
StateMap read_state(const std::string& path);

// Saves `module` and `optimizers` under dir/name.{model,opt<i>}.pt, the optional `averaged`
// tensors under dir/name.ema.pt, and dir/name.state atomically (temp files then rename; the
// state file, written last, names the step the set belongs to).
void save_checkpoint(const std::string& dir, const std::string& name, torch::nn::Module& module,
                     std::vector<torch::optim::Optimizer*> optimizers, const StateMap& state,
                     const std::vector<torch::Tensor>* averaged = nullptr);
bool checkpoint_exists(const std::string& dir, const std::string& name);
StateMap load_checkpoint(const std::string& dir, const std::string& name,
                         torch::nn::Module& module,
                         std::vector<torch::optim::Optimizer*> optimizers,
                         torch::Device device);

// Exponential moving average of a module's parameters (Polyak averaging). At batch 8 the live
// weights wander from step to step; their average validates better and more steadily, so
// validation, the "best" checkpoint and the shipped weights use it while training continues on
// the live weights. Saved with each checkpoint (name.ema.pt) so that resuming is exact.
class WeightAverage {
 public:
  // decay <= 0 disables averaging (every call is then a no-op, swap included).
  WeightAverage(torch::nn::Module& module, double decay);
  bool enabled() const { return decay_ > 0; }
  // avg = d * avg + (1 - d) * live, d = min(decay, (1 + step) / (10 + step)).
  void update(int64_t step);
  // Exchanges the live and the averaged values (twice restores them).
  void swap();
  // Loads dir/name.ema.pt; false (average restarted from the live weights) when the file is
  // missing or its tensors do not match the module (e.g. after the rate range was widened).
  bool load(const std::string& dir, const std::string& name);
  const std::vector<torch::Tensor>& tensors() const { return avg_; }

 private:
  std::vector<torch::Tensor> live_, avg_;
  double decay_;
};

std::string rng_to_string(const std::mt19937_64& rng);
void rng_from_string(std::mt19937_64& rng, const std::string& s);

class CsvLog {
 public:
  CsvLog(const std::string& path, const std::string& header);
  void row(const std::string& line);

 private:
  std::ofstream out_;
};

// The validation evidence for a checkpoint at `step`: the header of RUN/train.csv and its last
// "val," row at or before that step (empty strings when there is none).
struct ValidationRow {
  std::string columns, row;
};
ValidationRow validation_row_at(const std::string& run_dir, int64_t step);

double seconds_since(std::chrono::steady_clock::time_point t0);
std::string now_iso8601();
std::string device_description(torch::Device d, int threads);

void set_lr(torch::optim::Adam& opt, double lr);

}  // namespace lucid::train
