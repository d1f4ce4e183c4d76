// Compressed-video restoration after DiQP ("QP-aware transformer-diffusion restoration of
// codec-compressed video"), sized for CPUs.
//
// What it sees, per restored frame (or tile of it):
//  - a near window: `behind` frames before and `ahead` after the frame, YUV 4:2:0 as six planes
//    at half resolution (luma space-to-depth by 2, chroma as it is), fused early as the centre
//    frame and the neighbours' differences to it;
//  - look ahead: one frame `far_ahead` frames ahead at the same place, weighted by far_weight()
//    (its actual distance, shorter at the clip's end, and zero across a scene cut);
//  - look around: the whole frame downscaled to at most ctx_size x ctx_size, encoded into a
//    vector that every tile of the frame gets;
//  - the compression level: the frame's QP on its codec's scale (HEVC/H.264 0-51, AV1 qindex
//    0-255, or unknown), embedded like a diffusion timestep ("diffusion without added noise":
//    the compression level is the step, so one forward pass restores).
// Network: a U-Net at strides 2, 4, 8 of FiLM residual blocks conditioned on that embedding,
// with spatio-temporal window attention at stride 8 (each centre token attends to the tokens of
// its window in every frame of the window and the far frame); the output is a residual.
#pragma once

#include <torch/torch.h>

#include <string>

namespace lucid::models {

// The QP scales the model knows (one per codec family).
enum class QpScale : int {
  kH26x = 0,     // HEVC, H.264, MPEG-2: 0..51
  kAv1 = 1,      // AV1 base_q_idx: 0..255
  kUnknown = 2,  // no QP in the stream and none given
};
// The compression level in [0, 1] the model is conditioned on.
double qp_level(double qp, QpScale scale);

// A trained restorer's QP gate (weight meta "qp_gate" = "LO,HI", QP levels with
// 0 <= LO < HI <= 1): the share of the network's change a frame keeps, 0 at or below LO, 1 at or
// above HI, linear between. parse_qp_gate returns false for text of another form.
bool parse_qp_gate(const std::string& text, double* lo, double* hi);
double qp_gate_strength(double level, double lo, double hi);

struct DiqpConfig {
  std::string name = "small";
  int behind = 2, ahead = 2;  // near window
  int far_ahead = 12;         // far look-ahead offset in frames (0: none)
  int c1 = 32, c2 = 64, c3 = 96;  // widths at strides 2, 4, 8
  int enc1 = 1, enc2 = 2, mid = 2, dec2 = 2, dec1 = 1;  // FiLM residual blocks per stage
  int heads = 4;        // attention heads at stride 8 (c3 % heads == 0)
  int window = 8;       // attention window side in stride-8 tokens (64 pixels)
  int cond_dim = 64;
  int qp_freqs = 8;     // sinusoidal QP embedding: 2 * qp_freqs features
  int ctx_ch = 16;      // look-around encoder width
  int ctx_size = 64;    // the whole frame is area-downscaled to fit ctx_size x ctx_size
  double cut_threshold = 0.08;  // scene cut: mean |luma difference| of the two thumbnails

  static DiqpConfig small();
  static DiqpConfig tiny();  // random-weight test model
  static DiqpConfig by_name(const std::string& name);  // throws std::invalid_argument
  std::string serialize() const;                       // "key=value;..." (stable)
  static DiqpConfig parse(const std::string& text);    // throws std::invalid_argument
  int frames() const { return behind + 1 + ahead; }
  // Input sides are padded to this multiple (space-to-depth 2, then strides 2, 2 and 2... and the
  // stride-8 attention windows are masked at the edges, so 16 suffices).
  static constexpr int kMultiple = 16;
};

// Weight of the far look-ahead frame: (actual offset / far_ahead) — less at the clip's end where
// the window is clamped — and 0 across a scene cut (mean absolute difference of the two luma
// thumbnails, values in [0, 1], above cut_threshold). Thumbnails: [h, w] float tensors.
double far_weight(const DiqpConfig& cfg, int actual_offset, const torch::Tensor& center_thumb,
                  const torch::Tensor& far_thumb);

// Area-downscales a [C, H, W] (or [B, C, H, W]) float image to fit s x s, aspect kept.
torch::Tensor thumbnail(const torch::Tensor& img, int s);

class DiqpImpl : public torch::nn::Module {
 public:
  explicit DiqpImpl(const DiqpConfig& cfg);
  const DiqpConfig& config() const { return cfg_; }

  struct Input {
    torch::Tensor frames;    // [B, T, 6, h, w] in [0, 1] (T = cfg.frames(), centre at `behind`);
                             // h, w: half the luma size, multiples of kMultiple / 2
    torch::Tensor far;       // [B, 6, h, w] (ignored where far_w is 0); undefined if far_ahead 0
    torch::Tensor far_w;     // [B]
    torch::Tensor level;     // [B] qp_level()
    torch::Tensor scale;     // [B] int64 QpScale
    torch::Tensor context;   // [B, 3, ch, cw] downscaled whole frame (Y, Cb, Cr), ch, cw <= ctx_size
  };
  // Restored centre frame [B, 6, h, w] (centre + residual, unclamped).
  torch::Tensor forward(const Input& in);
  // Small random output layer (the trainer starts from zero = identity; random-weight test
  // models use this so that tests see a non-trivial residual).
  void randomize_output(double std);

 private:
  torch::Tensor condition(const Input& in);
  torch::Tensor attend(const torch::Tensor& x, const Input& in);

  DiqpConfig cfg_;
  torch::nn::Linear cond1_{nullptr}, cond2_{nullptr};
  torch::nn::Conv2d ctx1_{nullptr}, ctx2_{nullptr};
  torch::nn::Conv2d stem_{nullptr}, down1_{nullptr}, down2_{nullptr}, up2_{nullptr}, up1_{nullptr},
      out_{nullptr};
  torch::nn::Conv2d tok_{nullptr};  // per-frame stride-8 tokens (space-to-depth 4 of the planes)
  torch::nn::LayerNorm qn_{nullptr}, kn_{nullptr};
  torch::nn::Linear q_{nullptr}, kv_{nullptr}, proj_{nullptr};
  torch::Tensor frame_embed_;       // [T + 1, c3] which frame a key token comes from
  torch::nn::ModuleList enc1_, enc2_, mid_, dec2_, dec1_;
};
TORCH_MODULE(Diqp);

}  // namespace lucid::models
