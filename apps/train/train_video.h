// lucid-train video / export-video: the video restorer (models/diqp.h) on pairs made by
// data_scripts/build_video_pairs.py (clean and codec-decoded frames with their stream QPs).
#pragma once
#include <cstdint>
#include <string>

#include "train_options.h"

namespace lucid::train {

struct VideoTrainOptions : TrainRunOptions {
  // train_list, val_list: data/video/train.txt, val.txt (the packs are not used: the video
  // pairs are raw files already).
  VideoTrainOptions() {
    run_dir = "runs/video-small";
    crop = 128;    // luma pixels (multiple of 16)
    val_crop = 0;  // 0: whole validation frames (else a centre crop, multiple of 16)
    lr = 4e-4;
    clip = 0.5;
    eval_minutes = 20;
  }
  int val_stride = 8;  // validate every Nth frame of each validation sequence
  // mse (1000 x MSE, luma + half chroma) | charbonnier | dpsnr (minus each crop's PSNR gain
  // over the decoded input, luma + half chroma, averaged over the batch)
  std::string loss = "mse";
  double no_qp_prob = 0.1;  // share of samples shown without their QP (streams without one)
  // Weight averaging decay (as the codec's trainer): validation and DIR/best use the average,
  // which is steadier than the live weights at batch 8; 0 = off.
  double ema = 0.999;
};

struct VideoExportOptions : ExportRunOptions {
  VideoExportOptions() {
    run_dir = "runs/video-small";
    model_id = "diqp-small";
  }
  std::string ledger;
};

int train_video(const VideoTrainOptions& o);
int export_video(const VideoExportOptions& o);

}  // namespace lucid::train
