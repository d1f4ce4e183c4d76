// What every lucid-train trainer and exporter is told (the flags lucid_train.cpp's
// common_flags sets). Each trainer's options derive from these and set their own defaults in
// their constructors (train_codec.h, train_restore.h, train_video.h).
#pragma once
#include <cstdint>
#include <string>

namespace lucid::train {

struct TrainRunOptions {
  std::string config = "small";      // configuration name or text
  std::string train_list, val_list;  // list files (data_scripts/)
  std::string train_pack, val_pack;  // raw packs (pack.h) instead of the lists
  std::string run_dir;               // checkpoints, train.csv
  std::string device = "cpu";        // cpu | cuda
  int threads = 1;
  int batch = 8;
  int crop = 128;      // training crop
  int val_crop = 256;  // validation centre crop
  double lr = 2e-4;
  double reset_lr = 0;  // > 0: on resume, replace the checkpoint's learning rate
  double clip = 1.0;    // gradient norm clip
  int warmup_steps = 200;
  double minutes = 0;     // 0: no time limit
  int64_t max_steps = 0;  // 0: no step limit
  double checkpoint_minutes = 5;
  int64_t checkpoint_steps = 0;               // > 0: also save "last" every N steps
  std::string checkpoint_format = "compact";  // compact | legacy (checkpoint.h)
  double eval_minutes = 10;
  bool eval_at_end = false;    // validate once more when the run stops
  bool eval_at_start = false;  // validate before the first step of this run
  bool reset_best = false;     // forget the checkpoint's best score (the next validation is best)
  bool cuda_fast = false;      // TF32 matmuls and cuDNN autotuning (not bit-reproducible)
  int patience = 3;            // validations without a new best before the lr halves
  int log_every = 25;
  uint64_t seed = 1;
};

struct ExportRunOptions {
  std::string run_dir;
  std::string which = "best";  // best | last (the codec also: ema, the average of "last")
  std::string out;
  std::string model_id;
  bool fp16 = true;
  std::string init_config;  // non-empty: export a fresh (random) model of this config
  uint64_t init_seed = 1;
};

}  // namespace lucid::train
