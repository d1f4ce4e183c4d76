// Binds the C API's restorer seam to restoration/ (filled in by the JPEG restoration work).
#include "restorer_api.h"

namespace lucid::codec {

struct RestorerHandle {};
void RestorerHandleDeleter::operator()(RestorerHandle* h) const { delete h; }

std::unique_ptr<RestorerHandle, RestorerHandleDeleter> make_restorer(const std::string& path) {
  throw CodecError(LUCID_ERROR_MODEL, path + ": JPEG restoration is not available in this build");
}
std::string restorer_model_id(const RestorerHandle&) { return ""; }
RgbImage restore_jpeg(RestorerHandle&, const uint8_t*, size_t, const RunOptions&) {
  throw CodecError(LUCID_ERROR_MODEL, "JPEG restoration is not available in this build");
}
RgbImage restore_rgb(RestorerHandle&, const uint8_t*, uint32_t, uint32_t, size_t, int,
                     const RunOptions&) {
  throw CodecError(LUCID_ERROR_MODEL, "JPEG restoration is not available in this build");
}

}  // namespace lucid::codec
