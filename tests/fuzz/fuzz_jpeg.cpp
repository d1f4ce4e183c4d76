// libFuzzer target: lucid::jpeg::decode_jpeg on arbitrary bytes, then quality estimation on
// whatever tables were read. Must never crash, hang, leak or trip a sanitizer; any Status is fine.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lucid/restoration/jpeg_io.h"

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
  } else if (!out.rgb.empty() || error.empty()) {
    std::abort();
  }
  return 0;
}
