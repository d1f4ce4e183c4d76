// The seam between the C API and the JPEG restorer (restoration/), kept opaque so the codec
// library does not depend on the restorer's internals.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "image_codec.h"

namespace lucid::codec {

struct RestorerHandle;
struct RestorerHandleDeleter {
  void operator()(RestorerHandle* h) const;
};

// `device`: "cpu", "cuda" or "cuda:N"; CodecError(LUCID_ERROR_DEVICE) when unavailable.
std::unique_ptr<RestorerHandle, RestorerHandleDeleter> make_restorer(const std::string& weights_path,
                                                                     const std::string& device);
std::string restorer_model_id(const RestorerHandle& h);
RgbImage restore_jpeg(RestorerHandle& h, const uint8_t* jpeg, size_t size, const RunOptions& o);
RgbImage restore_rgb(RestorerHandle& h, const uint8_t* rgb, uint32_t width, uint32_t height,
                     size_t stride, int known_qf, const RunOptions& o);

}  // namespace lucid::codec
