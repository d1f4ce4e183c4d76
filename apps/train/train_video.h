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
  // "LO,HI" (QP levels, 0 <= LO < HI <= 1): the restorer's QP gate, written into the weights
  // (meta qp_gate; lucid/video_restore/diqp_restorer.h): frames at or below LO pass through,
  // at or above HI get all of the network's change. Empty: no gate.
  std::string qp_gate;
};

int train_video(const VideoTrainOptions& o);
int export_video(const VideoExportOptions& o);
// set-qp-gate: `weights` rewritten to `out` with the QP gate `qp_gate` ("LO,HI"; "" removes
// it), tensors as they were stored (fp16 stays fp16, fp32 fp32); an existing JSON `ledger`
// (read before anything is written) gets the gate and the new file's hash and size.
int set_video_qp_gate(const std::string& weights, const std::string& qp_gate,
                      const std::string& out, const std::string& ledger);
// "LO,HI" as models::parse_qp_gate reads it; throws lucid::flags::UsageError naming --qp-gate.
void check_qp_gate(const std::string& gate);

}  // namespace lucid::train
