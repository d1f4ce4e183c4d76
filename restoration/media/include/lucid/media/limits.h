// Size limits for untrusted images and video frames, defined once: image files (image_io.h),
// JPEG decoding (jpeg_io.h), the restorers, the video reader (video_reader.h) and the C API
// take them from here.
// They equal the .lucid container's own limits (entropy/container.h); the C API checks that.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lucid::media {

constexpr uint32_t kMaxImageSide = 65535;
constexpr uint64_t kMaxImagePixels = uint64_t{1} << 28;
constexpr size_t kMaxImageFileBytes = size_t{2} << 30;  // 2 GiB: a 16-bit PPM at the pixel limit

// Video frames (lucid-video's reader, the C API's streaming restorer): 8192 on a side and 8K
// UHD's 8192x4352 pixels.
constexpr uint32_t kMaxVideoSide = 8192;
constexpr uint64_t kMaxVideoPixels = uint64_t{8192} * 4352;

}  // namespace lucid::media
