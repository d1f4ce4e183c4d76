// lucid-train: trains and exports Lucid's networks.
//   lucid-train codec  --train LIST --val LIST [--config small] [--run DIR] [--minutes M] ...
//   lucid-train export-codec --run DIR --out FILE.lucidw [--which best|last] [--fp32]
//   lucid-train convert-checkpoint --run DIR [--name last]   (legacy fp32 -> compact)
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <type_traits>
#include <string>

#include "flags.h"
#include "train_common.h"
#include "train_codec.h"
#include "train_restore.h"
#include "train_video.h"

namespace {

const char* kUsage =
    "usage: lucid-train codec --train LIST --val LIST [options]\n"
    "       lucid-train export-codec --run DIR --out FILE.lucidw [--which best|last|ema]\n"
    "                                [--fp32 1]   (ema: the weight average of DIR/last)\n"
    "       lucid-train export-codec --init small|paper|tiny [--seed N] --out FILE.lucidw\n"
    "\n"
    "codec options (defaults in brackets):\n"
    "  --config NAME        small | paper | tiny, or a whole configuration text (a ledger's\n"
    "                       \"config\", e.g. to continue an older shape) [small]\n"
    "  --run DIR            checkpoint folder; training resumes from DIR/last.* [runs/codec-small]\n"
    "  --device cpu|cuda    [cpu]\n"
    "  -j, --threads N      intra-op threads [2]\n"
    "  --batch N            [8]      --crop N   training crop size, multiple of 64 [256]\n"
    "  --lr X               [2e-4]   --warmup N [200]   --clip X [1.0]\n"
    "  --reset-lr X         on resume, use X instead of the checkpoint's learning rate\n"
    "  --minutes M          stop after M minutes of this run (0 = never) [0]\n"
    "  --steps N            stop at total step N (0 = never) [0]\n"
    "  --checkpoint-minutes M [5]    --eval-minutes M [10]   --patience N [4]\n"
    "  --ema D              weight averaging decay; validation and DIR/best use the average\n"
    "                       (0 = off) [0.999]\n"
    "  --lambda-balance A   weight each sample's loss by (lambda/lambda_mid)^-A, so the\n"
    "                       top rates do not drown the others (0 = plain mean) [0.5]\n"
    "  --seed N             [1]\n"
    "\n"
    "data and checkpoints (codec and restore):\n"
    "  --train-pack FILE, --val-pack FILE   raw packs (data_scripts/expand_pack.py) instead of\n"
    "                       --train/--val lists; the only input of LUCID_TRAIN_ONLY builds\n"
    "  --checkpoint-steps N also save DIR/last every N steps [0 = off]\n"
    "  --checkpoint-format compact|legacy   [compact] (legacy: fp32 LibTorch archives, for\n"
    "                       migration tests; both are read)\n"
    "  --eval-at-end 1      validate once more when the run stops [0]\n"
    "  --eval-at-start 1    validate before the first step [0]\n"
    "  --reset-best 1       forget the checkpoint's best score: with --eval-at-start, DIR/best\n"
    "                       is then what beats the starting weights on this validation set\n"
    "  --cuda-fast 1        TF32 matmuls and cuDNN autotuning on CUDA [0]\n"
    "\n"
    "       lucid-train convert-checkpoint --run DIR [--name last] [--kind codec|restore]\n"
    "                       rewrites DIR/NAME in the compact format (step, optimizer state,\n"
    "                       weight average kept; kind from the config when not given)\n"
    "       lucid-train probe-codec --weights FILE.lucidw --val LIST [--crop 256 (0: whole)]\n"
    "                       [--q 0,0.5,1] [-j N]   per q: bpp, PSNR, and the PSNR of the\n"
    "                       same latents unrounded (the transforms' ceiling)\n"
    "       lucid-train shelve --run DIR --out DIR [--name last]\n"
    "                       the committed form of DIR/NAME (e.g. into models/checkpoints/):\n"
    "                       the weight average becomes the weights, one copy instead of two;\n"
    "                       optimizer, RNG and trainer state kept, resumes from the average\n"
    "       lucid-train check-pack --pack FILE   summary; a pair pack's single-compression\n"
    "                       pairs are compared with this build's libjpeg-turbo\n"
    "\n"
    "       lucid-train restore --train LIST --val LIST [options]\n"
    "       lucid-train export-restore --run DIR --out FILE.lucidw [--which best|last]\n"
    "                                  [--ledger FILE.json] [--fp32 1]\n"
    "       lucid-train export-restore --init small|tiny [--seed N] --out FILE.lucidw\n"
    "       lucid-train video --train data/video/train.txt --val data/video/val.txt [options]\n"
    "       lucid-train export-video --run DIR --out FILE.lucidw [--which best|last]\n"
    "                                [--ledger FILE.json] [--fp32 1] [--qp-gate LO,HI]\n"
    "       lucid-train set-qp-gate --weights FILE.lucidw --qp-gate LO,HI|none --out FILE.lucidw\n"
    "                       [--ledger FILE.json]   the video restorer's QP gate (QP levels:\n"
    "                       qp/51, AV1 qindex/255): frames at or below LO pass through, at or\n"
    "                       above HI get all of the network's change; none removes it; the\n"
    "                       tensors are kept as stored (fp16 or fp32)\n"
    "       lucid-train export-video --init small|tiny [--seed N] --out FILE.lucidw\n"
    "video options: as restore's where they apply, plus --val-stride N [8] (validate every Nth\n"
    "  frame), --val-crop N [0: whole frames], --no-qp-prob P [0.1], --ema D (weight averaging\n"
    "  for validation and DIR/best, 0 = off) [0.999], --loss mse|charbonnier|dpsnr (dpsnr:\n"
    "  minus each crop's PSNR gain over its decoded input) [mse]; defaults: --run runs/video-small\n"
    "  --crop 128 --lr 4e-4 --checkpoint-minutes 5 --eval-minutes 20\n"
    "restore options (defaults in brackets):\n"
    "  --config small|tiny [small]   --run DIR [runs/restore-small]   --device cpu|cuda [cpu]\n"
    "  -j, --threads N [1]   --batch N [8]   --crop N (multiple of 16) [96]\n"
    "  --val-crop N [192]    --lr X [4e-4]   --cave-lr X [1e-3]   --cave-steps N [2000]\n"
    "  --cave-batch N [16]   --warmup N [200]   --clip X [0.5]   --minutes M [0]\n"
    "  --steps N [0]   --checkpoint-minutes M [4]   --eval-minutes M [8]   --patience N [3]\n"
    "  --seed N [1]   --reset-lr X (on resume)\n"
    "  --low-qf-prob P [0.3]   share of training QFs drawn from 5..50 (else 5..95)\n"
    "  --high-qf-prob P [0]    share drawn from 75..95 instead (P + low <= 1)\n"
    "  --grain-prob P [0.3]    share of clean crops given film grain first (target keeps it)\n"
    "  --gray-prob P [0]       share of crops made grayscale JPEGs (luma in, luma out)\n";

using Setter = std::function<void(const std::string&)>;

// Parses argv[first..] into `flags` (keys: a flag's spellings, "-j,--threads"; every lucid-train
// flag takes a value). Bad flags throw lucid::flags::UsageError, -h/--help lucid::flags::Help;
// main() reports them.
void parse(int argc, char** argv, int first, const std::map<std::string, Setter>& flags) {
  lucid::flags::Parser p(argv[1], lucid::flags::Wording::kFlagFirst, /*positionals=*/false);
  for (const auto& [names, set] : flags) p.setter(names, set);
  p.parse(argc, argv, first);
}

// The flags both trainers take (their option structs share these field names).
template <typename Options>
std::map<std::string, Setter> common_flags(Options& opts) {
  Options* o = &opts;  // the setters outlive this call: capture the object's address
  return {
      {"--config", [o](auto v) { o->config = v; }},
      {"--train", [o](auto v) { o->train_list = v; }},
      {"--val", [o](auto v) { o->val_list = v; }},
      {"--train-pack", [o](auto v) { o->train_pack = v; }},
      {"--val-pack", [o](auto v) { o->val_pack = v; }},
      {"--checkpoint-steps", [o](auto v) { o->checkpoint_steps = std::stoll(v); }},
      {"--checkpoint-format", [o](auto v) {
         lucid::train::parse_checkpoint_format(v);
         o->checkpoint_format = v;
       }},
      {"--eval-at-end", [o](auto v) { o->eval_at_end = (v == "1" || v == "yes"); }},
      {"--eval-at-start", [o](auto v) { o->eval_at_start = (v == "1" || v == "yes"); }},
      {"--reset-best", [o](auto v) { o->reset_best = (v == "1" || v == "yes"); }},
      {"--cuda-fast", [o](auto v) { o->cuda_fast = (v == "1" || v == "yes"); }},
      {"--run", [o](auto v) { o->run_dir = v; }},
      {"--device", [o](auto v) { o->device = v; }},
      {"-j,--threads", [o](auto v) { o->threads = std::stoi(v); }},
      {"--batch", [o](auto v) { o->batch = std::stoi(v); }},
      {"--crop", [o](auto v) { o->crop = std::stoi(v); }},
      {"--val-crop", [o](auto v) { o->val_crop = std::stoi(v); }},
      {"--lr", [o](auto v) { o->lr = std::stod(v); }},
      {"--reset-lr", [o](auto v) { o->reset_lr = std::stod(v); }},
      {"--warmup", [o](auto v) { o->warmup_steps = std::stoi(v); }},
      {"--clip", [o](auto v) { o->clip = std::stod(v); }},
      {"--minutes", [o](auto v) { o->minutes = std::stod(v); }},
      {"--steps", [o](auto v) { o->max_steps = std::stoll(v); }},
      {"--checkpoint-minutes", [o](auto v) { o->checkpoint_minutes = std::stod(v); }},
      {"--eval-minutes", [o](auto v) { o->eval_minutes = std::stod(v); }},
      {"--patience", [o](auto v) { o->patience = std::stoi(v); }},
      {"--log-every", [o](auto v) { o->log_every = std::stoi(v); }},
      {"--seed", [o](auto v) { o->seed = std::stoull(v); }},
  };
}

// The checks the trainers share; each prints "error: ..." and returns false when it fails.
bool has_data(const char* cmd, const lucid::train::TrainRunOptions& o, bool packs) {
  if (packs ? (!o.train_list.empty() || !o.train_pack.empty()) &&
                  (!o.val_list.empty() || !o.val_pack.empty())
            : !o.train_list.empty() && !o.val_list.empty())
    return true;
  if (packs)
    std::cerr << "error: " << cmd << ": --train (or --train-pack) and --val (or --val-pack) are "
                                     "required (see data_scripts/)\n";
  else
    std::cerr << "error: " << cmd << ": --train and --val are required "
                                     "(data_scripts/build_video_pairs.py makes them)\n";
  return false;
}
bool valid_ema(const char* cmd, double ema) {
  if (ema >= 0 && ema < 1) return true;
  std::cerr << "error: " << cmd << ": --ema: expected a decay in [0, 1) (0 = no averaging)\n";
  return false;
}
bool valid_device(const lucid::train::TrainRunOptions& o) {
  if (o.device == "cpu" || o.device == "cuda") return true;
  std::cerr << "error: --device: expected cpu or cuda\n";
  return false;
}

// The export commands (export-codec, export-restore, export-video): the same flags, --out
// required; `ledger` only where the options have one.
template <typename Options, typename Export>
int run_export(int argc, char** argv, const char* cmd, Options& o, Export&& fn) {
  bool fp32 = false;
  std::map<std::string, Setter> f = {
      {"--run", [&](auto v) { o.run_dir = v; }},
      {"--which", [&](auto v) { o.which = v; }},
      {"--out", [&](auto v) { o.out = v; }},
      {"--model-id", [&](auto v) { o.model_id = v; }},
      {"--fp32", [&](auto v) { fp32 = (v == "1" || v == "yes"); }},
      {"--init", [&](auto v) { o.init_config = v; }},
      {"--seed", [&](auto v) { o.init_seed = std::stoull(v); }},
  };
  if constexpr (std::is_same_v<Options, lucid::train::RestoreExportOptions> ||
                std::is_same_v<Options, lucid::train::VideoExportOptions>)
    f["--ledger"] = [&](auto v) { o.ledger = v; };
  if constexpr (std::is_same_v<Options, lucid::train::VideoExportOptions>)
    f["--qp-gate"] = [&](auto v) {
      lucid::train::check_qp_gate(v);
      o.qp_gate = v;
    };
  parse(argc, argv, 2, f);
  if (o.out.empty()) {
    std::cerr << "error: " << cmd << ": --out is required\n";
    return 1;
  }
  o.fp16 = !fp32;
  return fn(o);
}

// The commands, each main()'s for its name (argv[1]); flag errors throw (main() reports them).
int cmd_codec(int argc, char** argv) {
  lucid::train::CodecTrainOptions o;
  std::map<std::string, Setter> f = common_flags(o);
  f.insert({
      {"--ema", [&](auto v) { o.ema = std::stod(v); }},
      {"--lambda-balance", [&](auto v) { o.lambda_balance = std::stod(v); }},
  });
  parse(argc, argv, 2, f);
  if (!has_data("codec", o, true)) return 1;
  if (!(o.lambda_balance >= 0 && o.lambda_balance <= 1)) {
    std::cerr << "error: codec: --lambda-balance: expected a value in [0, 1]\n";
    return 1;
  }
  if (!valid_ema("codec", o.ema)) return 1;
  if (o.crop % 64 || o.val_crop % 64 || o.batch < 1 || o.threads < 1) {
    std::cerr << "error: codec: crops must be multiples of 64, batch and threads >= 1\n";
    return 1;
  }
  if (!valid_device(o)) return 1;
  return lucid::train::train_codec(o);
}

int cmd_export_codec(int argc, char** argv) {
  lucid::train::CodecExportOptions o;
  return run_export(argc, argv, "export-codec", o, [](auto& x) { return lucid::train::export_codec(x); });
}

int cmd_restore(int argc, char** argv) {
  lucid::train::RestoreTrainOptions o;
  std::map<std::string, Setter> f = common_flags(o);
  f.insert({
      {"--cave-lr", [&](auto v) { o.cave_lr = std::stod(v); }},
      {"--low-qf-prob", [&](auto v) { o.low_qf_prob = std::stod(v); }},
      {"--high-qf-prob", [&](auto v) { o.high_qf_prob = std::stod(v); }},
      {"--grain-prob", [&](auto v) { o.grain_prob = std::stod(v); }},
      {"--gray-prob", [&](auto v) { o.gray_prob = std::stod(v); }},
      {"--cave-steps", [&](auto v) { o.cave_steps = std::stoi(v); }},
      {"--cave-batch", [&](auto v) { o.cave_batch = std::stoi(v); }},
  });
  parse(argc, argv, 2, f);
  if (!has_data("restore", o, true)) return 1;
  if (o.crop % 16 || o.val_crop % 16 || o.crop < 16 || o.batch < 1 || o.cave_batch < 2 ||
      o.threads < 1 || o.cave_steps < 0 || o.low_qf_prob < 0 || o.high_qf_prob < 0 ||
      o.low_qf_prob + o.high_qf_prob > 1 || !(o.grain_prob >= 0 && o.grain_prob <= 1) ||
      !(o.gray_prob >= 0 && o.gray_prob <= 1)) {
    std::cerr << "error: restore: crops must be multiples of 16, batch and threads >= 1, "
                 "QF, grain and gray shares in 0..1\n";
    return 1;
  }
  if (!valid_device(o)) return 1;
  return lucid::train::train_restore(o);
}

int cmd_video(int argc, char** argv) {
  lucid::train::VideoTrainOptions o;
  std::map<std::string, Setter> f = common_flags(o);
  f.insert({
      {"--val-stride", [&](auto v) { o.val_stride = std::stoi(v); }},
      {"--no-qp-prob", [&](auto v) { o.no_qp_prob = std::stod(v); }},
      {"--loss", [&](auto v) { o.loss = v; }},
      {"--ema", [&](auto v) { o.ema = std::stod(v); }},
  });
  parse(argc, argv, 2, f);
  if (!has_data("video", o, false) || !valid_ema("video", o.ema)) return 1;
  if (o.crop % 16 || o.crop < 16 || o.val_crop % 16 || o.val_crop < 0 || o.batch < 1 || o.threads < 1 ||
      o.val_stride < 1 || !(o.no_qp_prob >= 0 && o.no_qp_prob <= 1) || (o.loss != "mse" && o.loss != "charbonnier" && o.loss != "dpsnr")) {
    std::cerr << "error: video: crops must be multiples of 16, batch, threads and --val-stride >= 1, "
                 "--no-qp-prob in 0..1, --loss mse|charbonnier|dpsnr\n";
    return 1;
  }
  if (!valid_device(o)) return 1;
  return lucid::train::train_video(o);
}

int cmd_export_video(int argc, char** argv) {
  lucid::train::VideoExportOptions o;
  return run_export(argc, argv, "export-video", o, [](auto& x) { return lucid::train::export_video(x); });
}

int cmd_export_restore(int argc, char** argv) {
  lucid::train::RestoreExportOptions o;
  return run_export(argc, argv, "export-restore", o, [](auto& x) { return lucid::train::export_restore(x); });
}

int cmd_convert_checkpoint(int argc, char** argv) {
  std::string run, name = "last", kind;
  std::map<std::string, Setter> f = {
      {"--run", [&](auto v) { run = v; }},
      {"--name", [&](auto v) { name = v; }},
      {"--kind", [&](auto v) { kind = v; }},
  };
  parse(argc, argv, 2, f);
  if (run.empty()) {
    std::cerr << "error: convert-checkpoint: --run is required\n";
    return 1;
  }
  if (!lucid::train::checkpoint_exists(run, name)) {
    std::cerr << "error: convert-checkpoint: no checkpoint " << run << "/" << name << "\n";
    return 2;
  }
  if (kind.empty()) {
    const auto st = lucid::train::read_state(run + "/" + name + ".state");
    kind = st.count("config") && st.at("config").find("cave_ch=") != std::string::npos
               ? "restore"
               : "codec";
  }
  if (kind == "codec") return lucid::train::convert_codec_checkpoint(run, name);
  if (kind == "restore") return lucid::train::convert_restore_checkpoint(run, name);
  std::cerr << "error: convert-checkpoint: --kind: expected codec or restore\n";
  return 1;
}

int cmd_probe_codec(int argc, char** argv) {
  lucid::train::CodecProbeOptions o;
  std::map<std::string, Setter> f = {
      {"--weights", [&](auto v) { o.weights = v; }},
      {"--val", [&](auto v) { o.val_list = v; }},
      {"--crop", [&](auto v) { o.crop = std::stoi(v); }},
      {"--q", [&](auto v) { o.qualities = v; }},
      {"-j", [&](auto v) { o.threads = std::stoi(v); }},
  };
  parse(argc, argv, 2, f);
  if (o.weights.empty() || o.val_list.empty()) {
    std::cerr << "error: probe-codec: --weights and --val are required\n";
    return 1;
  }
  return lucid::train::probe_codec(o);
}

int cmd_shelve(int argc, char** argv) {
  std::string run, out, name = "last";
  std::map<std::string, Setter> f = {
      {"--run", [&](auto v) { run = v; }},
      {"--out", [&](auto v) { out = v; }},
      {"--name", [&](auto v) { name = v; }},
  };
  parse(argc, argv, 2, f);
  if (run.empty() || out.empty()) {
    std::cerr << "error: shelve: --run and --out are required\n";
    return 1;
  }
  lucid::train::shelve_checkpoint(run, out, name);
  std::cout << "shelved " << run << "/" << name << " into " << out << "\n";
  return 0;
}

int cmd_set_qp_gate(int argc, char** argv) {
  std::string weights, out, ledger;
  std::optional<std::string> gate;
  std::map<std::string, Setter> f = {
      {"--weights", [&](auto v) { weights = v; }},
      {"--qp-gate", [&](auto v) {
         if (v != "none") lucid::train::check_qp_gate(v);
         gate = v;
       }},
      {"--out", [&](auto v) { out = v; }},
      {"--ledger", [&](auto v) { ledger = v; }},
  };
  parse(argc, argv, 2, f);
  if (weights.empty() || out.empty() || !gate) {
    std::cerr << "error: set-qp-gate: --weights, --qp-gate (LO,HI or none) and --out are required\n";
    return 1;
  }
  return lucid::train::set_video_qp_gate(weights, *gate == "none" ? "" : *gate, out, ledger);
}

int cmd_check_pack(int argc, char** argv) {
  std::string pack;
  std::map<std::string, Setter> f = {{"--pack", [&](auto v) { pack = v; }}};
  parse(argc, argv, 2, f);
  if (pack.empty()) {
    std::cerr << "error: check-pack: --pack is required\n";
    return 1;
  }
  return lucid::train::check_pair_pack(pack);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  const std::map<std::string, int (*)(int, char**)> commands = {
      {"codec", cmd_codec},
      {"export-codec", cmd_export_codec},
      {"restore", cmd_restore},
      {"video", cmd_video},
      {"export-video", cmd_export_video},
      {"export-restore", cmd_export_restore},
      {"convert-checkpoint", cmd_convert_checkpoint},
      {"probe-codec", cmd_probe_codec},
      {"shelve", cmd_shelve},
      {"check-pack", cmd_check_pack},
      {"set-qp-gate", cmd_set_qp_gate},
  };
  const auto it = commands.find(cmd);
  if (it == commands.end()) {
    std::cerr << "error: " << cmd << ": unknown command\n" << kUsage;
    return 1;
  }
  try {
    return it->second(argc, argv);
  } catch (const lucid::flags::Help&) {
    std::cout << kUsage;
    return 0;
  } catch (const lucid::flags::UsageError& e) {  // unknown flags and missing values: the usage too
    return lucid::flags::report(e, e.kind() == lucid::flags::UsageError::kSyntax ? kUsage : nullptr);
  } catch (const std::exception& e) {
    std::cerr << "error: " << cmd << ": " << e.what() << "\n";
    return 3;
  }
}
