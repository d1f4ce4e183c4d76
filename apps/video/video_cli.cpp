#include "video_cli.h"

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>


namespace lucid::video_cli {

namespace {
bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

int cuda_device_count() {
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v && (!*v || std::string(v) == "-1")) return 0;
  int n = 0;
  while (exists("/dev/nvidia" + std::to_string(n))) ++n;
  return n;
}
}  // namespace

double parse_qp(const std::string& v) { return flags::parse_double("--qp", v, -48, 255); }

int parse_tile(const std::string& v) {
  const int tile = static_cast<int>(parse_int("--tile", v, 0, 1 << 16));
  if (tile > 0 && tile < 16) throw flags::UsageError("--tile: expected 0 (whole frames) or 16..65536");
  return tile;
}

int exit_for(video::VideoErrorKind k) { return k == video::VideoErrorKind::kOpen ? kExitUnreadable : kExitCorrupt; }

void check_device(const std::string& device, bool identity_note) {
  if (device == "cpu") return;
  const int want = flags::device_index(device);
  const int n = cuda_device_count();
  if (want >= n)
    throw CliError(kExitDevice, "--device " + device + ": " +
                                    (n == 0 ? std::string("no CUDA device is available")
                                            : "only " + std::to_string(n) + " CUDA device(s)") +
                                    " (lucid-video 0.1.0, no /dev/nvidiaN visible)");
  if (identity_note) std::fprintf(stderr, "note: the identity restorer runs on the CPU\n");
}

std::shared_ptr<const video_restore::RestorerModel> restorer_for(const std::string& model, const std::string& device) {
  using Kind = video_restore::RestorerError::Kind;
  try {
    return video_restore::load_restorer(model, device);
  } catch (const video_restore::RestorerError& e) {
    throw CliError(e.kind == Kind::kDevice ? kExitDevice : e.kind == Kind::kInput ? kExitCorrupt : kExitModel,
                   std::string("--model ") + e.what());
  }
}

video_restore::PlaneFormat plane_format(const video::StreamInfo& info) {
  return video_restore::PlaneFormat{info.width, info.height, info.bit_depth, info.chroma_shift_w, info.chroma_shift_h};
}

video_restore::Frame to_restore_frame(const video::VideoFrame& vf, const video_restore::PlaneFormat& pf,
                                      video_restore::QpScale scale) {
  video_restore::Frame fr = video_restore::Frame::blank(pf);
  fr.index = vf.index;
  fr.pts = vf.pts;
  fr.qp = vf.qp;
  fr.qp_scale = vf.qp ? scale : video_restore::QpScale::kUnknown;
  const int bps = pf.bytes_per_sample();
  for (int p = 0; p < 3; ++p)
    for (int y = 0; y < pf.plane_height(p); ++y)
      std::memcpy(fr.row(p, y), vf.data(p) + static_cast<ptrdiff_t>(y) * vf.stride(p),
                  static_cast<size_t>(pf.plane_width(p)) * bps);
  return fr;
}

}  // namespace lucid::video_cli
