// lucid-train restore / export-restore: the JPEG restorer (CaVE + one-step diffusion U-Net).
#pragma once
#include <cstdint>
#include <string>

namespace lucid::train {

struct RestoreTrainOptions {
  std::string config = "small";
  std::string train_list, val_list;
  // Raw packs (pack.h) instead of the lists: JPEG pairs (drawn by data_scripts/expand_pack.py
  // as make_pair draws them), or images (pairs made on the fly; not in LUCID_TRAIN_ONLY builds).
  std::string train_pack, val_pack;
  std::string run_dir = "runs/restore-small";
  std::string device = "cpu";
  int threads = 1;
  int batch = 8;
  int crop = 96;          // training crop (multiple of 16)
  int val_crop = 192;     // validation centre crop (multiple of 16)
  double lr = 4e-4;       // restorer
  double cave_lr = 1e-3;  // CaVE (stage 1)
  int cave_steps = 2000;  // stage 1 length; CaVE is frozen afterwards
  int cave_batch = 16;
  double clip = 0.5;
  int warmup_steps = 200;
  double minutes = 0;     // 0: no time limit
  int64_t max_steps = 0;  // 0: no step limit (counts both stages)
  double checkpoint_minutes = 4;
  int64_t checkpoint_steps = 0;  // > 0: also save "last" every N steps
  std::string checkpoint_format = "compact";  // compact | legacy (checkpoint.h)
  double eval_minutes = 8;
  bool eval_at_end = false;  // validate once more when the run stops
  bool eval_at_start = false;  // validate before the first step of this run
  bool reset_best = false;     // forget the checkpoint's best score (the next validation is best)
  bool cuda_fast = false;    // TF32 matmuls and cuDNN autotuning (not bit-reproducible)
  int patience = 3;
  int log_every = 25;
  uint64_t seed = 1;
  // Training-pair mix (see make_pair in train_restore.cpp).
  double noise_prob = 0.25;   // share of samples at a random timestep t > t* (noised input)
  double double_prob = 0.2;   // double compression (second grid possibly shifted)
  double shift_prob = 0.15;   // single compression, crop not on the 8x8 grid
  double grain_prob = 0.3;    // film grain / sensor noise added to the clean crop first
  double low_qf_prob = 0.3;   // share of quality factors drawn from 5..50 instead of 5..95
  double high_qf_prob = 0.0;  // share drawn from 75..95 (after the low draw), for fine-tuning
  double reset_lr = 0;        // > 0: on resume, replace the checkpoint's learning rate
  double known_prob = 0.75;   // share of samples that see the true QF (else CaVE's estimate)
};

struct RestoreExportOptions {
  std::string run_dir = "runs/restore-small";
  std::string which = "best";
  std::string out;
  std::string ledger;  // optional JSON ledger written beside the weights
  std::string model_id = "codiff-small";
  bool fp16 = true;
  std::string init_config;  // non-empty: export a fresh random model of this config
  uint64_t init_seed = 1;
};

int train_restore(const RestoreTrainOptions& o);
// Rewrites checkpoint run_dir/name in the compact format (see convert_codec_checkpoint).
int convert_restore_checkpoint(const std::string& run_dir, const std::string& name);
// check-pack: prints a pack's summary; for a pair pack, re-makes every single-compression pair
// with this build's libjpeg-turbo and returns 1 unless all are identical.
int check_pair_pack(const std::string& path);
int export_restore(const RestoreExportOptions& o);

}  // namespace lucid::train
