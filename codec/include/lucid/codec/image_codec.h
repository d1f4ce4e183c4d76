// The learned image codec pipeline (C++ API; the C API in apps/capi wraps it): pad to the model stride,
// g_a, hyperprior, T-CA slices, entropy coding into the .lucid container; and the reverse.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lucid/entropy/container.h"

namespace lucid::codec {

// Why a codec call failed. The numbers are those of the C API's lucid_status of the same name
// (the C API checks this at compile time), so no pipeline includes the C API's header.
enum class Status {
  kOk = 0,
  kInvalidArgument = 1,
  kOutOfMemory = 2,
  kLimitExceeded = 3,
  kModel = 4,
  kModelMismatch = 5,
  kBadStream = 6,
  kUnsupportedVersion = 7,
  kTruncated = 8,
  kCorrupt = 9,
  kChecksumMismatch = 10,
  kAborted = 11,
  kDevice = 12,
  kBadImage = 13,
  kInternal = 14,
};

class CodecError : public std::runtime_error {
 public:
  CodecError(Status status, const std::string& what)
      : std::runtime_error(what), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

struct RunOptions {
  int threads = 2;
  uint64_t max_pixels = entropy::kMaxPixels;  // the .lucid container's limit
  int tile = 1024;  // pixels; larger images run the transforms tile by tile
  // encoder effort 1..9 (cjxl's -e convention, higher is slower and better): above 1 the
  // encoder refines the latents for this image's rate-distortion cost (refine.h); the decoder
  // and the bitstream are the same at every effort
  int effort = 1;
  std::function<bool(uint64_t done, uint64_t total)> progress;  // false = abort
};

struct RgbImage {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // stride width * 3
};

// What a stream's entropy coder carries: exact integers, the same on every machine (format
// version 2's entropy parameters are exact, exact_params.h), so encode_symbols(decode_symbols(s))
// is s byte for byte, and one stream's symbols pin the whole format (tests/codec).
struct StreamSymbols {
  uint32_t width = 0, height = 0;
  float quality01 = 0;   // as the header stores it
  uint16_t version = 0;  // of the stream they came from
  std::vector<int32_t> z;  // hyper-latent symbols, channel-major [Nz, ceil(H/64), ceil(W/64)]
  std::vector<int32_t> y;  // latent symbols, slice after slice, channel-major in each
};

class ImageCodec {
 public:
  // Loads a .lucidw weight file of architecture "fat"; throws CodecError(LUCID_ERROR_MODEL).
  // `device` ("cpu", "cuda", "cuda:N") runs the analysis and synthesis transforms; the
  // entropy-parameter path always runs on the CPU, so streams decode the same on any device.
  // Throws CodecError(LUCID_ERROR_DEVICE) when the device is unavailable.
  explicit ImageCodec(const std::string& weights_path, const std::string& device = "cpu");
  ~ImageCodec();
  ImageCodec(const ImageCodec&) = delete;
  ImageCodec& operator=(const ImageCodec&) = delete;

  const std::string& model_id() const;
  // quality01 in [0, 1].
  std::vector<uint8_t> encode(const uint8_t* rgb, uint32_t width, uint32_t height, size_t stride,
                              double quality01, const RunOptions& opts) const;
  // The highest quality whose stream fits in max_bytes (bisection over the quality with the
  // analysis transform run once; at effort > 1 the latents are then refined at that quality,
  // kept if the stream still fits). Throws LUCID_ERROR_INVALID_ARGUMENT if even the lowest
  // quality does not fit.
  std::vector<uint8_t> encode_to_size(const uint8_t* rgb, uint32_t width, uint32_t height,
                                      size_t stride, size_t max_bytes, const RunOptions& opts,
                                      double* quality01_out) const;
  RgbImage decode(const uint8_t* data, size_t size, const RunOptions& opts) const;

  // A stream's symbols, checked as decode() checks the stream (latent checksum included), without
  // the synthesis.
  StreamSymbols decode_symbols(const uint8_t* data, size_t size, const RunOptions& opts) const;
  // The stream of these symbols in this model's format version (symbols and model of version 2
  // or later; else CodecError(kUnsupportedVersion)): the encoder's entropy half, from the
  // hyper-latent on. Throws CodecError(kLimitExceeded) for a size encode() refuses and
  // kInvalidArgument when the counts do not fit the size.
  std::vector<uint8_t> encode_symbols(const StreamSymbols& s, const RunOptions& opts) const;

 private:
  at::Tensor analyze(const uint8_t* rgb, uint32_t width, uint32_t height, size_t stride,
                     const RunOptions& opts) const;
  // decode()'s entropy half: the latents y-hat [1, M, H/16, W/16]; *out gets the header's
  // size, quality and version, and the symbols only `with_symbols` (decode() needs none).
  at::Tensor entropy_decode(const uint8_t* data, size_t size, const RunOptions& opts,
                            bool with_symbols, StreamSymbols* out) const;
  std::vector<uint8_t> code(const at::Tensor& y_base, uint32_t width, uint32_t height,
                            double quality01, const RunOptions& opts) const;
  // code() of the latents refined for this image (RunOptions::effort > 1).
  std::vector<uint8_t> refine_and_code(const uint8_t* rgb, uint32_t width, uint32_t height,
                                       size_t stride, const at::Tensor& y_base,
                                       double quality01, const RunOptions& opts) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The default codec weights (fat-small.lucidw), found by lucid::models::find_model_file.
// Throws CodecError(Status::kModel) naming the paths tried.
std::string default_weights_path();

}  // namespace lucid::codec
