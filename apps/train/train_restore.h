// lucid-train restore / export-restore: the JPEG restorer (CaVE + one-step diffusion U-Net).
#pragma once
#include <cstdint>
#include <string>

#include "train_options.h"

namespace lucid::train {

struct RestoreTrainOptions : TrainRunOptions {
  // Raw packs may also hold JPEG pairs (drawn by data_scripts/expand_pack.py as make_pair draws
  // them); image packs have their pairs made on the fly (not in LUCID_TRAIN_ONLY builds).
  RestoreTrainOptions() {
    run_dir = "runs/restore-small";
    crop = 96;       // multiple of 16
    val_crop = 192;  // multiple of 16
    lr = 4e-4;       // restorer
    clip = 0.5;
    checkpoint_minutes = 4;
    eval_minutes = 8;
  }
  double cave_lr = 1e-3;  // CaVE (stage 1)
  int cave_steps = 2000;  // stage 1 length; CaVE is frozen afterwards
  int cave_batch = 16;
  // Training-pair mix (see make_pair in train_restore.cpp).
  double noise_prob = 0.25;   // share of samples at a random timestep t > t* (noised input)
  double double_prob = 0.2;   // double compression (second grid possibly shifted)
  double shift_prob = 0.15;   // single compression, crop not on the 8x8 grid
  double grain_prob = 0.3;    // film grain / sensor noise added to the clean crop first
  double gray_prob = 0.0;     // grayscale JPEGs (one luma component): the crop's luma in and out
  double low_qf_prob = 0.3;   // share of quality factors drawn from 5..50 instead of 5..95
  double high_qf_prob = 0.0;  // share drawn from 75..95 (after the low draw), for fine-tuning
  double known_prob = 0.75;   // share of samples that see the true QF (else CaVE's estimate)
};

struct RestoreExportOptions : ExportRunOptions {
  RestoreExportOptions() {
    run_dir = "runs/restore-small";
    model_id = "codiff-small";
  }
  std::string ledger;  // optional JSON ledger written beside the weights
};

int train_restore(const RestoreTrainOptions& o);
// Rewrites checkpoint run_dir/name in the compact format (see convert_codec_checkpoint).
int convert_restore_checkpoint(const std::string& run_dir, const std::string& name);
// check-pack: prints a pack's summary; for a pair pack, re-makes every single-compression pair
// with this build's libjpeg-turbo and returns 1 unless all are identical.
int check_pair_pack(const std::string& path);
int export_restore(const RestoreExportOptions& o);

}  // namespace lucid::train
