// Shared training infrastructure for lucid-train: photo dataset in memory, random crops,
// checkpoint/resume (model + optimizer + trainer state, written atomically), CSV logging and
// the ledger that ships beside the weights.
#pragma once

#include <torch/torch.h>

#include "lucid/models/weights.h"
#include "train_options.h"

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
  // Records of a JPEG pair pack (pack.h) only: the JPEG-decoded image (uint8 [3, H, W]), the
  // quality factor of its last compression and how it was made (0 single, 1 off the 8x8 grid,
  // 2 double compression).
  torch::Tensor jpeg;
  int qf = 0, mode = 0;
};

// Reads a list file (one image path per line; relative paths are taken relative to the list's
// folder). Throws std::runtime_error with the offending path. Builds with LUCID_TRAIN_ONLY have
// no image decoder: they throw (train from packs, see pack.h).
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
void write_state(const std::string& path, const StateMap& s);
StateMap read_state(const std::string& path);

// Checkpoint files. kCompact (the default since the committed checkpoints grew to 80 MB): see
// checkpoint.h; dir/name.model.ckpt holds the live weights and the weight average,
// dir/name.opt<i>.ckpt the optimizers. kLegacy: the LibTorch archives of earlier versions
// (dir/name.{model,opt<i>,ema}.pt, all fp32), still read everywhere and written on request
// (--checkpoint-format legacy, for migration tests).
enum class CheckpointFormat { kCompact, kLegacy };
CheckpointFormat parse_checkpoint_format(const std::string& s);  // compact | legacy

// Saves `module`, `optimizers` (Adam), the optional `averaged` tensors (in module.parameters()
// order) and dir/name.state atomically (temp files then renames; the state file, renamed last,
// names the step the set belongs to; files of the other format are removed afterwards).
// Compact saves round on save: the module's parameters, `averaged` and the optimizer states are
// replaced by exactly what was stored, so continuing and resuming from the save stay identical.
void save_checkpoint(const std::string& dir, const std::string& name, torch::nn::Module& module,
                     std::vector<torch::optim::Optimizer*> optimizers, const StateMap& state,
                     const std::vector<torch::Tensor>* averaged = nullptr,
                     CheckpointFormat format = CheckpointFormat::kCompact);
// What a compact save does to the live state, without writing anything: a run resumed from a
// legacy (fp32) checkpoint calls it so that it continues exactly like one resumed from the
// converted checkpoint.
void round_to_checkpoint(torch::nn::Module& module,
                         std::vector<torch::optim::Optimizer*> optimizers,
                         const std::vector<torch::Tensor>* averaged);
bool checkpoint_exists(const std::string& dir, const std::string& name);
bool checkpoint_is_legacy(const std::string& dir, const std::string& name);
// Loads either format (compact preferred when both are present).
StateMap load_checkpoint(const std::string& dir, const std::string& name,
                         torch::nn::Module& module,
                         std::vector<torch::optim::Optimizer*> optimizers,
                         torch::Device device);

// Carries Adam's per-parameter moments from a model to one that adopted its weights: matched by
// parameter name; a parameter that grew gets the old moments in its leading block and zeros
// elsewhere; a new one starts without state (as on a first step).
void migrate_adam_state(torch::nn::Module& from, torch::optim::Adam& from_opt,
                        torch::nn::Module& to, torch::optim::Adam& to_opt);

// Exponential moving average of a module's parameters (Polyak averaging). At batch 8 the live
// weights wander from step to step; their average validates better and more steadily, so
// validation, the "best" checkpoint and the shipped weights use it while training continues on
// the live weights. Saved with each checkpoint (in name.model.ckpt; name.ema.pt in legacy
// checkpoints) so that resuming is exact.
class WeightAverage {
 public:
  // decay <= 0 disables averaging (every call is then a no-op, swap included).
  WeightAverage(torch::nn::Module& module, double decay);
  bool enabled() const { return decay_ > 0; }
  // avg = d * avg + (1 - d) * live, d = min(decay, (1 + step) / (10 + step)).
  void update(int64_t step);
  // Exchanges the live and the averaged values (twice restores them).
  void swap();
  // Loads the average of checkpoint dir/name; false (average restarted from the live weights)
  // when it has none or its tensors do not match the module (e.g. after the rate range was
  // widened).
  bool load(const std::string& dir, const std::string& name);
  const std::vector<torch::Tensor>& tensors() const { return avg_; }

 private:
  std::vector<std::string> names_;
  std::vector<torch::Tensor> live_, avg_;
  double decay_;
};

// Writes the committed form of checkpoint RUN/NAME to OUT (NAME.*, train.csv): the weight
// average becomes the weights ("average live" in the model file, so resuming starts both from
// it), which stores one copy of the weights instead of two (fat-small: 17.8 instead of 22.9 MB).
// The optimizer state, RNG and trainer state are kept; a run resumed from OUT continues from
// the averaged weights, exactly and repeatably. Checkpoints without an average are copied.
void shelve_checkpoint(const std::string& run, const std::string& out, const std::string& name);

std::string rng_to_string(const std::mt19937_64& rng);
void rng_from_string(std::mt19937_64& rng, const std::string& s);

// The counters every trainer keeps in its checkpoints, and the plateau rule they share.
struct Progress {
  Progress(uint64_t seed, double initial_lr) : lr(initial_lr), rng(seed) {}
  int64_t step = 0;
  double wall = 0;         // seconds trained, over all sessions
  double best_val = 1e30;  // the best validation score (lower is better)
  double lr;
  int bad_evals = 0;       // validations since the best one
  std::mt19937_64 rng;     // the trainer's draws (crops, qualities, ...)

  // Continues from a checkpoint's state: the counters and the RNG ("resumed ..." on stderr);
  // then, with --reset-lr X (X > 0), X instead of the checkpoint's rate and the plateau count
  // restarted.
  void resume(const StateMap& prior, const std::string& run_dir, double reset_lr);
  // Once the validation set is loaded: its scores are not comparable with the checkpoint's when
  // the checkpoint records another "val_dataset", so the best score is forgotten then, and
  // with --reset-best (`reset_best`).
  void check_val_set(const StateMap& prior, const std::string& val_fingerprint, bool reset_best);
  // --reset-best, or scores that are not comparable: the next validation becomes the best.
  void forget_best();
  // After a validation: true when `score` is the best so far (the plateau count restarts);
  // otherwise it counts, and `patience` such validations in a row halve the learning rate
  // (at least 1e-6).
  bool judge(double score, int patience);
  // The state keys every trainer writes: config, step, wall_seconds, best_val, lr, bad_evals,
  // rng, dataset, val_dataset, device, updated. Trainers add their own.
  StateMap state(const std::string& config, const std::string& dataset,
                 const std::string& val_dataset, const std::string& device) const;
};

// The training loop's clock: when the session ends (--minutes, --steps), when to validate
// (--eval-minutes) and when to save "last" (--checkpoint-minutes, --checkpoint-steps).
class TrainClock {
 public:
  template <class Options>
  explicit TrainClock(const Options& o)
      : TrainClock(o.minutes, o.max_steps, o.eval_minutes, o.checkpoint_minutes,
                   o.checkpoint_steps) {}
  TrainClock(double minutes, int64_t max_steps, double eval_minutes, double checkpoint_minutes,
             int64_t checkpoint_steps);
  // The budget and both intervals start now (after a validation before the first step).
  void restart();
  double seconds() const;  // of this session, since the start or restart
  bool finished(int64_t step) const;
  // True once per interval; the interval restarts when it says so.
  bool eval_due();
  bool checkpoint_due(int64_t step);
  // A save made for another reason (the restorer's end of stage 1) restarts the interval too.
  void checkpoint_saved();

 private:
  double minutes_, eval_minutes_, checkpoint_minutes_;
  int64_t max_steps_, checkpoint_steps_;
  std::chrono::steady_clock::time_point start_, last_eval_, last_ckpt_;
};

// What an export writes: the weight file OUT and, when `ledger` is set, the ledger that ships
// beside it (what was trained, from which checkpoint, for how long, on what, and its
// validation row from RUN/train.csv at or before the exported step).
struct ExportSpec {
  std::string out, ledger;
  std::string model_id, arch, config;  // config: the configuration text
  std::string checkpoint;              // best | last | ema
  std::string run_dir;                 // for the validation row
  std::string dataset_manifest;        // how the dataset is rebuilt
  bool fp16 = true;
};
// Writes `w` (the module's tensors from models::export_module and any extra tables) with its
// metadata: arch, model_id, config and the checkpoint's state as "train.<key>" (the RNG, the
// configuration and the plateau counters left out); then the ledger; prints what it wrote.
void save_export(const ExportSpec& spec, torch::nn::Module& model, const StateMap& state,
                 models::WeightFile& w);
// The spec of an export command's options (out, model_id, which, run_dir, fp16); no ledger.
template <class ExportOptions>
ExportSpec export_spec(const ExportOptions& o, const std::string& arch, const std::string& config,
                       const std::string& dataset_manifest) {
  ExportSpec s;
  s.out = o.out;
  s.model_id = o.model_id;
  s.arch = arch;
  s.config = config;
  s.checkpoint = o.which;
  s.run_dir = o.run_dir;
  s.dataset_manifest = dataset_manifest;
  s.fp16 = o.fp16;
  return s;
}

// Shortest decimal text of v with `prec` significant digits (the trainers' logs and states).
std::string fmt(double v, int prec = 5);

// Quality in dB of images on [0,1], every trainer's: the PSNR of a mean squared error (floored at
// 1e-12, 120 dB), of `a` against `b`, per sample of a batch of squared errors [B] (a tensor), and
// the gain of an output's error over its input's (both floored).
double psnr_db(double mse);
double psnr_db(const torch::Tensor& a, const torch::Tensor& b);
torch::Tensor psnr_db_each(const torch::Tensor& mse);
double gain_db(double mse_in, double mse_out);

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

// A training run's threads, device (--device cpu|cuda) and --cuda-fast; false, after
// "error: --device cuda: ..." on stderr, when CUDA is asked for and there is none (the
// trainers then exit 6).
bool start_device(const TrainRunOptions& o, torch::Device* dev);

void set_lr(torch::optim::Adam& opt, double lr);
// --cuda-fast: TF32 matmuls and cuDNN autotuning on a CUDA device (no-op otherwise).
void enable_fast_cuda(bool on, torch::Device dev);

}  // namespace lucid::train
