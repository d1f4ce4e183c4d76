// JPEG artifact removal with the CODiff-style restorer (models/codiff.h): CaVE embedding plus a
// one-step diffusion U-Net, run tile by tile with overlap blending so any image size restores
// in bounded memory without seams.
//
// This header does not include LibTorch. A JpegRestorer holds immutable loaded weights; its
// const methods may be called from several threads (LibTorch's intra-op thread count is
// process-wide: give concurrent calls the same `threads`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "lucid/media/limits.h"

namespace lucid::restoration {

class RestoreError : public std::runtime_error {
 public:
  enum class Kind {
    kInvalidArgument,  // bad size, stride or option
    kModel,            // weight file missing, corrupt or not a restorer
    kBadImage,         // JPEG unreadable, corrupt, truncated or unsupported (CMYK, 12-bit)
    kTooLarge,         // over the pixel limit
    kAborted,          // the progress callback asked to stop
    kDevice,           // requested device unavailable
  };
  RestoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct RestoreOptions {
  int threads = 2;
  uint64_t max_pixels = media::kMaxImagePixels;
  // Tile side (pixels, rounded down to a multiple of 8, at least 64) and overlap between tiles
  // (multiple of 8, at most tile / 2). Peak memory grows with tile * image width, not with the
  // image area (apart from the input and output buffers themselves).
  int tile = 512;
  int overlap = 32;
  // restore_jpeg only: project the result onto the file's quantization constraint set (see
  // jpeg_constraint.h), so it never contradicts the coefficients the file holds.
  bool jpeg_constraint = true;
  // At high qualities keep only the fraction detail_keep(quality) of the restorer's change (in
  // the DCT domain of the file's coefficients when projecting, in pixels otherwise): where the
  // quantization intervals are narrow the restorer's guesses inside them are worth less than
  // the file's own values. Off returns the network's output unshrunk.
  bool high_quality_shrink = true;
  // Called after each tile with done/total tiles; return false to abort (kAborted).
  std::function<bool(uint64_t done, uint64_t total)> progress;
};

enum class QualitySource {
  kUser,          // known_qf given by the caller
  kFileExact,     // the JPEG's tables are IJG tables of exactly this quality
  kFileEstimate,  // the JPEG's tables fitted to the nearest IJG quality
  kCave,          // no tables: CaVE's learned estimate
};
const char* quality_source_str(QualitySource s);

struct RestoredImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // stride width * 3
  int quality = 0;           // quality factor given to the restorer (1..100)
  QualitySource quality_source = QualitySource::kCave;
  double cave_quality = 0;   // CaVE's own estimate (1..100), for information
  int tiles = 0;
  bool constrained = false;  // projected onto the JPEG file's quantization constraint set
  bool gray = false;  // a grayscale JPEG: the result is gray too (R = G = B, its luma)
};

// The fraction of the restorer's change kept at JPEG quality `quality`: 1 up to 75, then down
// linearly to 0.55 at 95 (fitted on training crops; the measurements are beside the definition).
double detail_keep(int quality);

class JpegRestorer {
 public:
  // Loads a .lucidw file of architecture "codiff"; throws RestoreError(kModel). The network
  // runs on `device` ("cpu", "cuda", "cuda:N"; RestoreError(kDevice) when unavailable); the
  // JPEG decoding and the constraint projection run on the CPU.
  explicit JpegRestorer(const std::string& weights_path, const std::string& device = "cpu");
  ~JpegRestorer();
  JpegRestorer(const JpegRestorer&) = delete;
  JpegRestorer& operator=(const JpegRestorer&) = delete;

  const std::string& model_id() const;
  const std::string& config() const;

  // Restores decoded 8-bit RGB pixels (rows `stride` bytes apart) of a JPEG-compressed image.
  // known_qf: 1..100 when known, 0 to let CaVE estimate it. Known qualities above 95 (outside
  // the training range, nearly lossless) are returned unchanged.
  RestoredImage restore(const uint8_t* rgb, int width, int height, size_t stride, int known_qf,
                        const RestoreOptions& opts) const;
  // Decodes a JPEG file (baseline or progressive, any common subsampling, grayscale; CMYK is
  // refused) and restores it; the quality factor comes from the quantization tables unless
  // qf_override (1..100) is given. With opts.jpeg_constraint the result is projected onto the
  // file's quantization constraint set.
  RestoredImage restore_jpeg(const uint8_t* data, size_t size, const RestoreOptions& opts,
                             int qf_override = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The default restorer weights (codiff-small.lucidw), found by lucid::models::find_model_file.
// Throws RestoreError(kModel) naming the paths tried.
std::string default_weights_path();

}  // namespace lucid::restoration
