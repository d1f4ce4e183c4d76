// Shipped weight files (.lucidw): self-describing (architecture, stable model id, config),
// fp16 or fp32 tensors, frozen integer entropy tables, and a trailing 64-bit content hash that
// is verified on load and written into every .lucid stream so a decoder never pairs a stream
// with the wrong weights.
//
//   "LUCIDW01" | u32 meta length | meta text ("key=value\n" lines) | u32 tensor count |
//   per tensor: u16 name length | name | u8 dtype (0 f32, 1 f16, 2 i32) | u8 ndim |
//               i64 dims[ndim] | raw little-endian data |
//   u64 FNV-1a hash of all preceding bytes
#pragma once

#include <torch/torch.h>

#include <array>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace lucid::models {

class WeightError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WeightFile {
  std::map<std::string, std::string> meta;  // arch, model_id, config, ledger fields...
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::array<uint8_t, 8> hash{};             // set by load/serialize
  bool stored_fp16 = false;                  // parse: some float tensor was stored as fp16

  const std::string& get(const std::string& key) const;  // throws WeightError if absent
  const torch::Tensor* find(const std::string& name) const;
};

std::vector<uint8_t> serialize_weights(WeightFile& w, bool fp16);  // also sets w.hash
WeightFile parse_weights(const std::vector<uint8_t>& bytes);      // throws WeightError
void save_weights(const std::string& path, WeightFile& w, bool fp16);
WeightFile load_weights(const std::string& path);

// Copies the module's parameters and buffers into `w` (as float32 on CPU).
void export_module(torch::nn::Module& m, WeightFile& w, const std::string& prefix = "");
// Loads every parameter/buffer of `m` from `w`; throws WeightError naming the first missing
// tensor or shape mismatch.
void import_module(torch::nn::Module& m, const WeightFile& w, const std::string& prefix = "");

// The weight-file contract of every loader (the codec's, the JPEG restorer's, the video
// restorer's): a file of architecture `arch` (meta "arch") with its stable model id and config.
// Throws WeightError naming the path: unreadable or corrupt, "is a 'X' model, not WHAT ('ARCH')",
// or a missing key.
struct ModelFile {
  WeightFile weights;
  std::string model_id, config;
};
ModelFile load_model_file(const std::string& path, const std::string& arch,
                          const std::string& what);

// The network of a ModelFile: Config::parse of its config (into *cfg), Module(*cfg) with the
// file's tensors, in eval mode. Throws WeightError naming the path for a bad config or tensors
// that do not fit the module.
template <class Module, class Config>
Module build_model(const ModelFile& f, const std::string& path, Config* cfg) {
  try {
    *cfg = Config::parse(f.config);
  } catch (const std::logic_error& e) {  // invalid_argument, out_of_range (stoi, stod)
    throw WeightError(path + ": bad configuration: " + e.what());
  }
  Module m(*cfg);
  try {
    import_module(*m, f.weights);
  } catch (const WeightError& e) {
    throw WeightError(path + ": " + e.what());
  }
  m->eval();
  return m;
}

// A weight file's hash as the ledgers and journals write it: 16 lowercase hex digits.
std::string hash_hex(const std::array<uint8_t, 8>& hash);

uint64_t fnv1a64(const uint8_t* data, size_t size, uint64_t h = 0xcbf29ce484222325ULL);

}  // namespace lucid::models
