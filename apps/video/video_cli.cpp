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

int64_t parse_int(const std::string& flag, const std::string& v, int64_t lo, int64_t hi) {
  try {
    size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return n;
  } catch (const std::exception&) {
  }
  throw CliError(kExitUsage, flag + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                                 ", got '" + v + "'");
}

int exit_for(video::VideoErrorKind k) { return k == video::VideoErrorKind::kOpen ? kExitUnreadable : kExitCorrupt; }

void check_device(const std::string& device, bool verbose) {
  if (device == "cpu") return;
  if (device != "cuda" && device.rfind("cuda:", 0) != 0)
    throw CliError(kExitUsage, "--device: expected cpu, cuda or cuda:N, got '" + device + "'");
  const int n = cuda_device_count();
  const int want = device == "cuda" ? 0 : static_cast<int>(parse_int("--device", device.substr(5), 0, 64));
  if (want >= n)
    throw CliError(kExitDevice, "--device " + device + ": " +
                                    (n == 0 ? std::string("no CUDA device is available")
                                            : "only " + std::to_string(n) + " CUDA device(s)") +
                                    " (lucid-video 0.1.0, no /dev/nvidiaN visible)");
  if (verbose) std::fprintf(stderr, "note: the identity restorer runs on the CPU\n");
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
