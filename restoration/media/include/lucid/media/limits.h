// Size limits for untrusted images, defined once: image files (image_io.h), JPEG decoding
// (jpeg_io.h), the restorers and the C API's LUCID_OPT_MAX_PIXELS range take them from here.
// They equal the .lucid container's own limits (entropy/container.h); the C API checks that.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lucid::media {

constexpr uint32_t kMaxImageSide = 65535;
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 28;
constexpr size_t kMaxImageFileBytes = size_t{2} << 30;  // 2 GiB: a 16-bit PPM at the pixel limit

}  // namespace lucid::media
