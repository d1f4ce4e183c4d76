// libFuzzer target: lucid::jpeg::decode_jpeg on arbitrary bytes, then quality estimation on
// whatever tables were read, then the coefficient reader and the projection onto the file's
// quantization constraint set. Must never crash, hang, leak or trip a sanitizer; any Status is
// fine.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "lucid/restoration/jpeg_constraint.h"
#include "lucid/media/jpeg_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lucid::jpeg::Limits limits;
  limits.max_pixels = uint64_t{1} << 22;  // keep each run small and fast under ASan
  limits.max_side = 8192;
  limits.max_scans = 64;
  lucid::jpeg::DecodedJpeg out;
  std::string error;
  const lucid::jpeg::Status s = lucid::jpeg::decode_jpeg(data, size, &out, &error, limits);
  if (s == lucid::jpeg::Status::kOk) {
    // Invariants the rest of Lucid relies on.
    if (out.width <= 0 || out.height <= 0 ||
        out.rgb.size() != size_t(out.width) * size_t(out.height) * 3 ||
        uint64_t(out.width) * uint64_t(out.height) > limits.max_pixels)
      std::abort();
    const lucid::jpeg::QualityEstimate q = lucid::jpeg::estimate_quality(out.qt);
    if (!(q.quality >= 0.0 && q.quality <= 100.0)) std::abort();
    // The same bytes read as coefficients must succeed too, and projecting the decoded image
    // must accept it (same size, supported layouts) or refuse without touching it.
    lucid::jpeg::JpegCoefficients c;
    if (lucid::jpeg::read_jpeg_coefficients(data, size, &c, &error, limits) !=
        lucid::jpeg::Status::kOk)
      std::abort();
    const std::vector<uint8_t> before = out.rgb;
    if (!lucid::jpeg::project_to_constraints(c, out.rgb.data(), out.width, out.height,
                                             size_t(out.width) * 3) &&
        out.rgb != before)
      std::abort();
  } else if (!out.rgb.empty() || error.empty()) {
    std::abort();
  }
  return 0;
}
