// Keeping a restored image consistent with the JPEG file it came from.
//
// A JPEG file pins every DCT coefficient of the original image to an interval: coefficient k
// quantized with step q came from [(k - 1/2) q, (k + 1/2) q]. The set of images whose
// coefficients lie in those intervals (the quantization constraint set) is convex and contains
// the original, so projecting a restored image onto it can only bring the image closer to the
// original in the (orthonormal) DCT domain of the coded components. It removes the restorer's
// errors that contradict the file, e.g. detail smoothed away at high qualities where the
// intervals are narrow.
//
// Plain C++17, no LibTorch. Reentrant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lucid/media/jpeg_io.h"

namespace lucid::jpeg {

struct ProjectionStats {
  uint64_t blocks = 0;            // 8x8 blocks examined
  uint64_t clipped = 0;           // coefficients that were outside their interval
  uint64_t coefficients = 0;      // coefficients examined
};

// Projects `rgb` (width x height interleaved RGB8, rows `stride` bytes apart, the size of the
// file's image) in place onto the file's quantization constraint set: RGB is converted to the
// file's colour space (JFIF YCbCr, RGB or gray), each component is averaged down to its
// sampling grid the way libjpeg's encoder does, every DCT coefficient outside its interval is
// moved to the interval's nearest end, and the correction is spread back over the full-resolution
// pixels (exactly the least-squares correction for box-filtered chroma). Gray files come back
// gray. Returns false, leaving `rgb` untouched, when the layout is not supported (sampling
// factors that do not divide the largest ones, or a size mismatch).
//
// `keep` (0..1) then shrinks every coefficient toward the file's dequantized value k q: the
// result is k q + keep (c - k q), with c the projected coefficient. 1 is the plain projection;
// 0 returns the file's own coefficients. Below 1 it trades the restorer's detail for the file's
// where the intervals are narrow and the restorer's guesses inside them are no better than the
// interval's centre (high qualities, and sources that were themselves JPEGs).
bool project_to_constraints(const JpegCoefficients& jc, uint8_t* rgb, int width, int height,
                            size_t stride, ProjectionStats* stats = nullptr, float keep = 1.0f);

}  // namespace lucid::jpeg
