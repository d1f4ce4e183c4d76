// lucid: learned image compression and JPEG restoration from the command line.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "lucid/media/image_io.h"

namespace lucid::cli {

int exit_code_for(lucid_status s) {
  switch (s) {
    case LUCID_OK: return kExitOk;
    case LUCID_ERROR_INVALID_ARGUMENT: return kExitUsage;
    case LUCID_ERROR_MODEL:
    case LUCID_ERROR_MODEL_MISMATCH: return kExitModel;
    case LUCID_ERROR_BAD_STREAM:
    case LUCID_ERROR_UNSUPPORTED_VERSION:
    case LUCID_ERROR_TRUNCATED:
    case LUCID_ERROR_CORRUPT:
    case LUCID_ERROR_CHECKSUM_MISMATCH:
    case LUCID_ERROR_BAD_IMAGE:
    case LUCID_ERROR_LIMIT_EXCEEDED: return kExitCorrupt;
    case LUCID_ERROR_DEVICE: return kExitDevice;
    default: return kExitInternal;
  }
}

void add_common_flags(flags::Parser& p, CommonFlags* c) {
  p.value("-o,--output", &c->output);
  p.value("--model", &c->model);
  p.setter("--device", [c](const std::string& v) {
    flags::device_index(v);
    c->device = v;
  });
  p.setter("-j,--threads", [c](const std::string& v) {
    c->threads = static_cast<int>(parse_int("--threads", v, 1, 256));
  });
  p.flag("-y,--overwrite", &c->overwrite);
  p.flag("--json", &c->json);
  p.flag("--quiet", &c->quiet);
  p.flag("-v,--verbose", &c->verbose);
}

Context::Context(const std::string& weights, lucid_model_kind kind, const CommonFlags& f) {
  lucid_context_params p;
  lucid_context_params_init(&p);
  p.kind = kind;
  p.weights_path = weights.empty() ? nullptr : weights.c_str();
  if (f.device != "cpu") {
    p.device = LUCID_DEVICE_CUDA;
    p.device_index = flags::device_index(f.device);
  }
  const lucid_status s = lucid_context_create_ex(&p, &ctx_);
  if (s != LUCID_OK)
    throw CliError(exit_code_for(s), std::string("model: ") + lucid_last_error(nullptr));
  check(lucid_context_set_option(ctx_, LUCID_OPT_THREADS, f.threads), "--threads");
}

void Context::check(lucid_status s, const std::string& what) const {
  if (s != LUCID_OK) {
    std::string why = lucid_last_error(ctx_);
    if (why.empty()) why = lucid_status_str(s);
    throw CliError(exit_code_for(s), what + ": " + why);
  }
}

std::string json_text(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

double json_float(float v) {
  if (!std::isfinite(v)) return v;
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;  // shortest round trip
  double d = v;
  std::from_chars(text, end, d);
  return d;
}

std::string with_thousands(uint64_t n) {
  std::string d = std::to_string(n), o;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i && (d.size() - i) % 3 == 0) o += ' ';
    o += d[i];
  }
  return o;
}

void check_device(const CommonFlags& f) {
  if (f.device == "cpu") return;
  const int n = lucid_cuda_device_count();
  const int want = flags::device_index(f.device);
  if (want >= n)
    throw CliError(kExitDevice, "--device " + f.device + ": " +
                                    (n == 0 ? std::string("no CUDA device is available")
                                            : "only " + std::to_string(n) + " CUDA device(s)") +
                                    " (" + lucid_build_info() + ")");
}

}  // namespace lucid::cli

namespace {

const char* kHelp =
    "lucid: learned image compression and JPEG artifact removal\n"
    "\n"
    "usage:\n"
    "  lucid encode IN -o OUT.lucid [-q Q | --target-bpp B | --target-size N] [options]\n"
    "  lucid decode IN.lucid -o OUT.png [--compare ORIGINAL] [options]\n"
    "  lucid info IN.lucid\n"
    "  lucid bench DIR [-o OUTDIR] [--qualities ...] [--baselines jpeg,webp,avif,jxl]\n"
    "              [--jpeg-qualities ...] [--webp-qualities ...] [--avif-quantizers ...]\n"
    "              [--jxl-distances ...] [-e N] [options]\n"
    "  lucid restore IN.jpg|DIR -o OUT.png|OUTDIR [--qf Q] [--tile N] [options]\n"
    "  lucid bench-restore DIR [--qf 10,20,30,40] [--gray] [--first-qf Q [--shift S]]\n"
    "                      [-o OUTDIR] [options]\n"
    "\n"
    "options (defaults in brackets):\n"
    "  -o, --output PATH     output file or folder\n"
    "  -q, --quality Q       encode quality, continuous in 1..100 (higher = more bits) [75]\n"
    "                        maps linearly to the model's rate-distortion trade-off\n"
    "                        lambda = lmin * (lmax/lmin)^((Q-1)/99), from the weight file\n"
    "                        (fat-small: lmin 0.0001, lmax 0.16, about 0.1-1.2 bpp)\n"
    "  -e, --effort N        encode, bench: 1..9, higher is slower and smaller at the same\n"
    "                        quality: the encoder refines the latents for this image\n"
    "                        (decoding and the format are the same at every effort) [1]\n"
    "  --baselines LIST      bench: codecs to compare with [jpeg,webp,avif,jxl]; one whose\n"
    "                        tool is not in PATH is skipped with a note. Settings (sweeps\n"
    "                        in brackets, together about 0.1-3 bpp on photographs):\n"
    "                        jpeg: libjpeg-turbo 4:2:0, optimized Huffman, linked in\n"
    "                          --jpeg-qualities [5,10,15,20,30,40,50,60,70,80,90,95]\n"
    "                        webp: cwebp -m 6 -q Q, dwebp (Debian package webp)\n"
    "                          --webp-qualities [0,5,10,25,40,55,70,80,90,95]\n"
    "                        avif: avifenc -c aom -s 4 -y 444 --min Q --max Q, avifdec\n"
    "                          (libavif-bin) --avif-quantizers\n"
    "                          [63,56,50,42,36,30,24,18,12,6]\n"
    "                        jxl: cjxl -d D -e 7, djxl (libjxl-tools)\n"
    "                          --jxl-distances [15,10,6,4,3,2,1.5,1,0.7,0.4]\n"
    "                        bench --qualities: Lucid's -q list [1,10,22,35,50,65,80,100]\n"
    "                        The tools get -j's thread count; their times include starting\n"
    "                        the process and writing the decoded PPM/PNG.\n"
    "  --target-bpp B        highest quality whose file is at most B bits per pixel\n"
    "  --target-size N       highest quality whose file is at most N bytes\n"
    "  --qf Q                restore: the input's JPEG quality factor, 1..100 [read from the\n"
    "                        JPEG's quantization tables; for PNG/PPM inputs CaVE estimates it]\n"
    "                        bench-restore: comma-separated list [10,20,30,40]\n"
    "  --tile N              restore: tile side for large images, 256..4096 [1024]\n"
    "  --no-constraint       restore, bench-restore: return the network output as is instead\n"
    "                        of projecting it onto the JPEG file's quantization intervals\n"
    "                        and shrinking its change above quality 75\n"
    "  --gray                bench-restore: grayscale JPEGs of the photos (cjpeg -grayscale),\n"
    "                        scored against the photos' luma\n"
    "  --first-qf Q          bench-restore: double compression: each photo is a JPEG at\n"
    "                        quality Q first, decoded, then compressed at each --qf\n"
    "  --shift S             bench-restore, with --first-qf: crop S pixels (0..7) off the\n"
    "                        top and left between the two, so the grids are not aligned [0]\n"
    "  --compare ORIGINAL    decode: also report PSNR-RGB and MS-SSIM against ORIGINAL\n"
    "  -j, --threads N       CPU threads [2]\n"
    "  --device cpu|cuda[:N] where the networks run; the codec's entropy parameters always\n"
    "                        run on the CPU, so streams decode alike on any device [cpu]\n"
    "  --model FILE          weight file [the default model for the command]\n"
    "  -y, --overwrite       replace an existing output (never done otherwise)\n"
    "  --json                machine-readable result on stdout\n"
    "  --quiet               no summary line on stderr\n"
    "  -v, --verbose         more detail on stderr\n"
    "  -V, --version         print version and build information\n"
    "  --                    end of options\n"
    "\n"
    "inputs: PNG, JPEG, PPM/PGM (grayscale is expanded to RGB; images with transparency are\n"
    "refused: flatten them first). Outputs: .png, .ppm, .jpg by extension.\n"
    "\n"
    "exit codes: 0 ok, 1 usage, 2 input unreadable, 3 input corrupt/unsupported/too large,\n"
    "            4 model error or stream made with another model, 5 output exists or cannot\n"
    "            be written, 6 device unavailable, 7 internal error\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace lucid::cli;
  if (argc < 2) {
    std::cerr << kHelp;
    return kExitUsage;
  }
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::cout << kHelp;
    return 0;
  }
  if (cmd == "-V" || cmd == "--version") {
    std::cout << lucid_build_info() << "\n";
    return 0;
  }
  try {
    if (cmd == "encode") return cmd_encode(argc, argv);
    if (cmd == "decode") return cmd_decode(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "bench") return cmd_bench(argc, argv);
    if (cmd == "restore") return cmd_restore(argc, argv);
    if (cmd == "bench-restore") return cmd_bench_restore(argc, argv);
    std::cerr << "error: " << cmd << ": unknown command (see lucid --help)\n";
    return kExitUsage;
  } catch (const lucid::flags::Help&) {
    std::cout << kHelp;
    return 0;
  } catch (const lucid::flags::UsageError& e) {
    return lucid::flags::report(e);
  } catch (const CliError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return e.code();
  } catch (const lucid::media::ImageError& e) {
    using lucid::media::ImageErrorCode;
    std::cerr << "error: " << e.what() << "\n";
    switch (e.code()) {
      case ImageErrorCode::kUnreadable: return kExitUnreadable;
      case ImageErrorCode::kExists:
      case ImageErrorCode::kWriteFailed: return kExitWrite;
      default: return kExitCorrupt;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << cmd << ": internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}
