#pragma once
#include <cstdint>
#include <string>

#include "train_options.h"

namespace lucid::train {

struct CodecTrainOptions : TrainRunOptions {
  CodecTrainOptions() {
    run_dir = "runs/codec-small";
    threads = 2;
    crop = 256;
    patience = 4;
    log_every = 10;
  }
  double ema = 0.999;  // weight averaging decay for validation and "best"; 0 = off
  // Each sample's loss is weighted by (lambda / lambda_mid)^-lambda_balance, lambda_mid the
  // geometric middle of the rate range. Unweighted (0), the loss grows about as lambda^0.7, so
  // with the range up to 0.82 the top anchors took nearly all of each clipped gradient step and
  // the low rates lost quality; 0.5 leaves the top about 5x the bottom, as before the widening.
  // Each anchor's own optimum is unchanged (a per-lambda constant factor).
  double lambda_balance = 0.5;
};

struct CodecExportOptions : ExportRunOptions {
  CodecExportOptions() {
    run_dir = "runs/codec-small";
    model_id = "fat-small";
  }
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
