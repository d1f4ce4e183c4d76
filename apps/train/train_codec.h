#pragma once
#include <cstdint>
#include <string>

namespace lucid::train {

struct CodecTrainOptions {
  std::string config = "small";
  std::string train_list, val_list;
  std::string train_pack, val_pack;  // raw image packs (pack.h) instead of the lists
  std::string run_dir = "runs/codec-small";
  std::string device = "cpu";
  int threads = 2;
  int batch = 8;
  int crop = 256;
  int val_crop = 256;
  double lr = 2e-4;
  double reset_lr = 0;  // > 0: on resume, replace the checkpoint's learning rate
  double clip = 1.0;
  double ema = 0.999;  // weight averaging decay for validation and "best"; 0 = off
  // Each sample's loss is weighted by (lambda / lambda_mid)^-lambda_balance, lambda_mid the
  // geometric middle of the rate range. Unweighted (0), the loss grows about as lambda^0.7, so
  // with the range up to 0.82 the top anchors took nearly all of each clipped gradient step and
  // the low rates lost quality; 0.5 leaves the top about 5x the bottom, as before the widening.
  // Each anchor's own optimum is unchanged (a per-lambda constant factor).
  double lambda_balance = 0.5;
  int warmup_steps = 200;
  double minutes = 0;     // 0: no time limit
  int64_t max_steps = 0;  // 0: no step limit
  double checkpoint_minutes = 5;
  int64_t checkpoint_steps = 0;  // > 0: also save "last" every N steps
  std::string checkpoint_format = "compact";  // compact | legacy (checkpoint.h)
  double eval_minutes = 10;
  bool eval_at_end = false;  // validate once more when the run stops
  bool eval_at_start = false;  // validate before the first step of this run
  bool reset_best = false;     // forget the checkpoint's best score (the next validation is best)
  bool cuda_fast = false;    // TF32 matmuls and cuDNN autotuning (not bit-reproducible)
  int patience = 4;
  int log_every = 10;
  uint64_t seed = 1;
};

struct CodecExportOptions {
  std::string run_dir = "runs/codec-small";
  std::string which = "best";  // best | last | ema (the averaged weights of "last")
  std::string out;
  std::string model_id = "fat-small";
  bool fp16 = true;
  std::string init_config;  // non-empty: export a fresh model of this config (no checkpoint)
  uint64_t init_seed = 1;
};

// lucid-train probe-codec: what a weight file's transforms can reconstruct. Per quality q, the
// validation bpp and PSNR (rounded latents, as validation measures them) beside the PSNR of the
// same latents unrounded, synthesis(analysis(x) * gain(q) * inverse_gain(q)): the ceiling that
// no entropy model can lift.
struct CodecProbeOptions {
  std::string weights, val_list;
  int crop = 256;  // centre crops; 0: whole photos, cut to a multiple of 64
  std::string qualities = "0,0.5,1";
  int threads = 2;
};
int probe_codec(const CodecProbeOptions& o);

int train_codec(const CodecTrainOptions& o);
// Rewrites checkpoint run_dir/name in the compact format (a legacy fp32 checkpoint: same
// step, optimizer state and weight average, rounded as a compact save rounds them).
int convert_codec_checkpoint(const std::string& run_dir, const std::string& name);
int export_codec(const CodecExportOptions& o);

}  // namespace lucid::train
