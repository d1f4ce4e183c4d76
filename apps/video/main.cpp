// lucid-video: video restoration tool. `info` (streams, format, per-frame QP), `restore` and `bench`.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "video_cli.h"

namespace {

const char* kUsage =
    "usage:\n"
    "  lucid-video info IN [--json] [--qp N] [-v]\n"
    "  lucid-video restore IN -o OUT [options]\n"
    "  lucid-video restore --manifest LIST [--shard I/N] -o OUTDIR [options]\n"
    "  lucid-video bench INPUT... --codec hevc|av1 [--qp 22,27,32,37,42] [--json FILE] [--plot FILE.png]\n"
    "\n"
    "info: the file's streams, the video stream's codec, size, pixel format, bit depth, colour\n"
    "tags, frame rate, time base, frame count (every frame is decoded) and each frame's QP and\n"
    "picture type. QP scales: HEVC and H.264 luma QP (0..51 at 8 bit; HEVC from the slice\n"
    "headers, mean over slices), AV1 and VP9 base_q_idx (0..255), MPEG-2 quantiser_scale.\n"
    "  --json     print JSON to stdout (a \"frames\" array with each frame's qp and pict_type)\n"
    "  --qp N     report N as every frame's QP (overrides the stream's)\n"
    "  -v         also print FFmpeg's own messages and QP parser warnings\n"
    "  -h, --help this help; -V, --version the version\n"
    "\n"
    "restore: restores every frame (with the restorer --model names) and writes OUT with\n"
    "the input's audio/subtitle/data streams copied, timestamps, frame rate, aspect ratio and\n"
    "colour tags kept. OUT appears only when complete (temporary file + rename).\n"
    "  --codec C      ffv1 (default, lossless, Matroska), x265, svtav1, x264\n"
    "  --crf N        quality of x265/x264 (0..51) or svtav1 (0..63); --qp-out N: constant QP\n"
    "  --qp N         the QP the restorer is told for every frame (default: the stream's)\n"
    "  --tile N       restore in N x N tiles, 0: whole frames (default: the restorer's, 512\n"
    "                 for the network, whole frames for the identity)\n"
    "  --frames A:B   frames A..B-1 only (A: to the end); copied streams cut to that time\n"
    "  --segment N    frames per resumable segment (default 250)\n"
    "  --resume       keep the segments a killed run finished (from OUT's work folder)\n"
    "  -y             replace an existing OUT (default: refuse, exit 5)\n"
    "  -j N           decoder/encoder threads (default 1)\n"
    "  --device D     cpu (default) or cuda[:N] (exit 6 without a CUDA device)\n"
    "  --model M      the restorer: default (the default: the shipped diqp-small network, which\n"
    "                 leaves frames of low QP or none unchanged), identity (the frames pass\n"
    "                 through), or a .lucidw weight file; exit 4 when not found\n"
    "  --json         a JSON summary on stdout; --quiet: no progress or summary line\n"
    "  --manifest L   one input per line (# comments); outputs OUTDIR/<stem>.mkv; existing outputs\n"
    "                 are skipped, failures go to OUTDIR/failures-I-of-N.json\n"
    "  --shard I/N    lines i with i % N == I (default: SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT,\n"
    "                 else JOB_COMPLETION_INDEX/LUCID_SHARD_COUNT, else 0/1)\n"
    "Progress (frame, fps, ETA) on a TTY only.\n"
    "\n"
    "bench: encodes every clean clip at each QP (hevc: libx265 constant QP, low-delay P, no\n"
    "B-frames; av1: libsvtav1 constant QP), decodes, restores, and prints per clip and QP the\n"
    "PSNR-Y and SSIM-Y of the decoded and the restored frames against the clean ones (paired by\n"
    "frame index, luma at its native bit depth), dPSNR-Y = restored - decoded, and the restorer's fps.\n"
    "  INPUT          a folder (its video files), a clip, or a list file (one path per line)\n"
    "  --codec C      hevc (QP 0..51) or av1 (SVT-AV1 QP 1..63); --qp Q,Q,...: default 22,27,32,37,42\n"
    "  --json FILE    everything as JSON (per clip, QP and frame; summary per QP)\n"
    "  --plot FILE    a PNG of dPSNR-Y per QP (mean over the clips, and each clip when at most 7)\n"
    "  --frames N     at most the first N frames of each clip\n"
    "  --keep DIR     keep the encoded streams there (N-STEM-CODEC-qpQP.mkv; default: deleted)\n"
    "  --model M, --device D, --tile N, -j N: as for restore; -y replaces FILEs; --quiet: no table\n"
    "\n"
    "Exit codes: 0 ok, 1 usage, 2 input unreadable, 3 input corrupt/unsupported/too large,\n"
    "4 no such restorer model, 5 output exists or cannot be written, 6 device unavailable, 7 internal error, 8 some\n"
    "manifest items failed, 130 interrupted (no output; --resume continues).\n"
    "Every error line reads `error: what: why`.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace lucid::video_cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "error: lucid-video: missing command\n%s", kUsage);
    return kExitUsage;
  }
  const std::string cmd = args[0];
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (cmd == "-V" || cmd == "--version") {
    std::puts("lucid-video 0.1.0");
    return kExitOk;
  }
  try {
    if (cmd == "info") return cmd_info({args.begin() + 1, args.end()});
    if (cmd == "restore") return cmd_restore({args.begin() + 1, args.end()});
    if (cmd == "bench") return cmd_bench({args.begin() + 1, args.end()});
    throw CliError(kExitUsage, "lucid-video: unknown command '" + cmd + "' (see --help)");
  } catch (const lucid::flags::Help&) {  // CMD -h/--help
    std::fputs(kUsage, stdout);
    return kExitOk;
  } catch (const lucid::flags::UsageError& e) {
    return lucid::flags::report(e, kUsage);
  } catch (const CliError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (e.code == kExitUsage) std::fputs(kUsage, stderr);
    return e.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", e.what());
    return kExitInternal;
  }
}
