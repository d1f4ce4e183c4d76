// lucid-train video / export-video: the video restorer (models/diqp.h) on pairs made by
// data_scripts/build_video_pairs.py (clean and codec-decoded frames with their stream QPs).
#pragma once
#include <cstdint>
#include <string>

namespace lucid::train {

struct VideoTrainOptions {
  std::string config = "small";
  std::string train_list, val_list;  // data/video/train.txt, val.txt
  std::string train_pack, val_pack;  // (not used: the video pairs are raw files already)
  std::string run_dir = "runs/video-small";
  std::string device = "cpu";
  int threads = 1;
  int batch = 8;
  int crop = 128;        // training crop, luma pixels (multiple of 16)
  int val_crop = 0;      // 0: whole validation frames (else a centre crop, multiple of 16)
  int val_stride = 8;    // validate every Nth frame of each validation sequence
  double lr = 4e-4;
  double clip = 0.5;
  int warmup_steps = 200;
  double minutes = 0;
  int64_t max_steps = 0;
  double checkpoint_minutes = 5;
  int64_t checkpoint_steps = 0;
  std::string checkpoint_format = "compact";
  double eval_minutes = 20;
  bool eval_at_end = false, eval_at_start = false, reset_best = false, cuda_fast = false;
  int patience = 3;
  int log_every = 25;
  uint64_t seed = 1;
  double reset_lr = 0;
  // mse (1000 x MSE, luma + half chroma) | charbonnier | dpsnr (minus each crop's PSNR gain
  // over the decoded input, luma + half chroma, averaged over the batch)
  std::string loss = "mse";
  double no_qp_prob = 0.1;  // share of samples shown without their QP (streams without one)
  // Weight averaging decay (as the codec's trainer): validation and DIR/best use the average,
  // which is steadier than the live weights at batch 8; 0 = off.
  double ema = 0.999;
};

struct VideoExportOptions {
  std::string run_dir = "runs/video-small";
  std::string which = "best";
  std::string out, ledger;
  std::string model_id = "diqp-small";
  bool fp16 = true;
  std::string init_config;  // non-empty: a fresh random model of this config (tests)
  uint64_t init_seed = 1;
};

int train_video(const VideoTrainOptions& o);
int export_video(const VideoExportOptions& o);

}  // namespace lucid::train
