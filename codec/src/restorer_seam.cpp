// Binds the C API's restorer seam to restoration/ (lucid::restoration::JpegRestorer).
#include <new>

#include "lucid/restoration/jpeg_restorer.h"
#include "restorer_api.h"

namespace lucid::codec {

namespace rs = lucid::restoration;

struct RestorerHandle {
  RestorerHandle(const std::string& path, const std::string& device) : restorer(path, device) {}
  rs::JpegRestorer restorer;
};
void RestorerHandleDeleter::operator()(RestorerHandle* h) const { delete h; }

namespace {

lucid_status status_for(rs::RestoreError::Kind k) {
  switch (k) {
    case rs::RestoreError::Kind::kInvalidArgument: return LUCID_ERROR_INVALID_ARGUMENT;
    case rs::RestoreError::Kind::kModel: return LUCID_ERROR_MODEL;
    case rs::RestoreError::Kind::kBadImage: return LUCID_ERROR_BAD_IMAGE;
    case rs::RestoreError::Kind::kTooLarge: return LUCID_ERROR_LIMIT_EXCEEDED;
    case rs::RestoreError::Kind::kAborted: return LUCID_ERROR_ABORTED;
    case rs::RestoreError::Kind::kDevice: return LUCID_ERROR_DEVICE;
  }
  return LUCID_ERROR_INTERNAL;
}

// Runs fn, turning the restorer's errors into CodecErrors (which the C API maps to statuses).
template <typename Fn>
auto translated(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const rs::RestoreError& e) {
    throw CodecError(status_for(e.kind()), e.what());
  }
}

rs::RestoreOptions options_for(const RunOptions& o) {
  rs::RestoreOptions r;
  r.threads = o.threads;
  r.max_pixels = o.max_pixels;
  r.tile = o.tile;
  r.jpeg_constraint = o.jpeg_constraint;
  r.high_quality_shrink = o.jpeg_constraint;  // one switch: off returns the network's output
  r.progress = o.progress;
  return r;
}

RgbImage to_rgb_image(rs::RestoredImage&& r) {
  RgbImage img;
  img.width = static_cast<uint32_t>(r.width);
  img.height = static_cast<uint32_t>(r.height);
  img.rgb = std::move(r.rgb);
  return img;
}

}  // namespace

std::unique_ptr<RestorerHandle, RestorerHandleDeleter> make_restorer(const std::string& path,
                                                                     const std::string& device) {
  return translated([&] {
    return std::unique_ptr<RestorerHandle, RestorerHandleDeleter>(
        new RestorerHandle(path, device));
  });
}

std::string restorer_model_id(const RestorerHandle& h) { return h.restorer.model_id(); }

RgbImage restore_jpeg(RestorerHandle& h, const uint8_t* jpeg, size_t size, const RunOptions& o) {
  return translated([&] { return to_rgb_image(h.restorer.restore_jpeg(jpeg, size, options_for(o), o.jpeg_qf)); });
}

RgbImage restore_rgb(RestorerHandle& h, const uint8_t* rgb, uint32_t width, uint32_t height,
                     size_t stride, int known_qf, const RunOptions& o) {
  if (width == 0 || height == 0 || width > 65535 || height > 65535)
    throw CodecError(LUCID_ERROR_INVALID_ARGUMENT, "width and height must be in 1..65535");
  return translated([&] {
    return to_rgb_image(h.restorer.restore(rgb, static_cast<int>(width), static_cast<int>(height),
                                           stride, known_qf, options_for(o)));
  });
}

}  // namespace lucid::codec
