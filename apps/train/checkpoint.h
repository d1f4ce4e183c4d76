// Compact checkpoint files for lucid-train (format "LUCIDCK1").
//
// A training checkpoint holds the live weights, optionally their running average (EMA), and the
// Adam state. Stored in fp32 that is ~4x the weights (63 MB for fat-small), too much to commit
// after every training session. The compact files store, per tensor:
//   live weights   f16 (IEEE half) for tensors of >= 4096 elements and >= 2 dimensions whose
//                  values fit in half; f32 for everything else (biases, norms, gains, quantiles)
//   weight average q8 of (average - stored live weights): blocks of 64, float32 absmax scale,
//                  int8 codes (the average is within a few % of the weights, so this is finer
//                  than f16 of the average itself); f32 for small tensors
//   Adam exp_avg_sq (and max_exp_avg_sq) log8: blocks of 256, float32 log2 range, uint8 codes
//                  (0 = exactly zero, 1..255 log-uniform over the block's range: the error is
//                  at most half a step, range / 508 octaves: 1.1% for a block spanning 8
//                  octaves (fat-small's median), 4.5% for 32, its widest); f32 for small tensors
//   Adam exp_avg   r4: m / sqrt(stored exp_avg_sq), which is what Adam's update is made of and
//                  is bounded (|m| / sqrt(v) <= ~7 for the default betas; <= 1.9 measured), in
//                  4 bits: blocks of 64, float32 absmax scale, codes -7..7. On fat-small's state
//                  the update error is <= 0.13 (rms 0.018) of a full Adam step, and it fades
//                  with beta1 (0.9 per step); 8-bit m itself erred up to 0.44 on elements with a
//                  small exp_avg_sq. f32 for small tensors
// "Round on save": a save replaces the trainer's live state by exactly what it stored (decoded
// on the CPU), so continuing after a save and resuming from that save run bit-identically.
//
// File layout (little-endian): "LUCIDCK1", u64 header length, the header (UTF-8 text, one
// record per line, tab-separated):
//   meta <key> <value>
//   tensor <name> <encoding f32|f16|q8|log8> <shape "3x4x5" or "scalar"> <offset> <bytes>
// then the payload (offsets are relative to its start). meta payload_fnv is FNV-1a 64 of the
// payload (hex); meta step names the training step the file belongs to.
//   q8:   ceil(n/64) float32 scales, then n int8 codes; value = code * (scale / 127)
//   log8: ceil(n/256) pairs of float32 (lo, step), then n uint8 codes;
//         value = code == 0 ? 0 : exp2(lo + (code - 1) * step)
//   r4:   ceil(n/64) float32 scales, then ceil(n/2) bytes, two codes each (low nibble first),
//         nibble = code + 8; value = code * (scale / 7) * sqrt(v), v = the decoded exp_avg_sq
//
// Sizes (fat-small, 4.0 M parameters): 12.4 MB weights + average, 6.4 MB Adam state (was 63 MB).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace lucid::train::ckpt {

enum class Encoding { kF32, kF16, kQ8, kLog8, kR4 };

// Encodes a CPU float tensor; returns the stored bytes and sets *decoded to what loading them
// gives back (same shape, float32, CPU). kR4 needs `v`, the decoded exp_avg_sq.
std::string encode(const torch::Tensor& x, Encoding e, torch::Tensor* decoded,
                   const torch::Tensor* v = nullptr);

struct Entry {
  std::string name;
  Encoding encoding = Encoding::kF32;
  std::vector<int64_t> shape;
  std::string bytes;
};

struct File {
  std::map<std::string, std::string> meta;
  std::vector<Entry> entries;
  const Entry* find(const std::string& name) const;
  // Decoded float32 CPU tensor of entry `name` (not kR4); throws std::runtime_error when absent.
  torch::Tensor tensor(const std::string& name) const;
};

void write_file(const std::string& path, const File& f);  // throws std::runtime_error
File read_file(const std::string& path);                   // throws std::runtime_error
// kR4 entries need `v`, the decoded exp_avg_sq of the same parameter.
torch::Tensor decode(const Entry& e, const torch::Tensor* v = nullptr);

// The encoding of a live weight / Adam moment for a parameter of this shape and these values.
Encoding weight_encoding(const torch::Tensor& cpu_values);
bool is_large(const torch::Tensor& t);

}  // namespace lucid::train::ckpt
