#include "lucid/models/weights.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace lucid::models {

namespace {
constexpr char kMagic[8] = {'L', 'U', 'C', 'I', 'D', 'W', '0', '1'};
constexpr uint64_t kMaxWeightBytes = uint64_t{1} << 32;

void put_u(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

struct Reader {
  const std::vector<uint8_t>& b;
  size_t pos = 0;
  uint64_t u(int bytes) {
    need(bytes);
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{b[pos + i]} << (8 * i);
    pos += bytes;
    return v;
  }
  void need(size_t n) {
    if (n > b.size() - pos) throw WeightError("weight file is truncated");
  }
};
}  // namespace

uint64_t fnv1a64(const uint8_t* data, size_t size, uint64_t h) {
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

const std::string& WeightFile::get(const std::string& key) const {
  auto it = meta.find(key);
  if (it == meta.end()) throw WeightError("weight file lacks '" + key + "'");
  return it->second;
}

const torch::Tensor* WeightFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

std::vector<uint8_t> serialize_weights(WeightFile& w, bool fp16) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  std::string meta;
  for (const auto& [k, v] : w.meta) {
    if (k.find_first_of("=\n") != std::string::npos || v.find('\n') != std::string::npos)
      throw WeightError("weight metadata key/value contains '=' or newline: " + k);
    meta += k + "=" + v + "\n";
  }
  put_u(out, meta.size(), 4);
  out.insert(out.end(), meta.begin(), meta.end());
  put_u(out, w.tensors.size(), 4);
  for (const auto& [name, tensor] : w.tensors) {
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    uint8_t dtype;
    if (t.scalar_type() == torch::kInt32 || t.scalar_type() == torch::kInt64) {
      t = t.to(torch::kInt32);
      dtype = 2;
    } else if (fp16) {
      t = t.to(torch::kHalf);
      dtype = 1;
    } else {
      t = t.to(torch::kFloat);
      dtype = 0;
    }
    put_u(out, name.size(), 2);
    out.insert(out.end(), name.begin(), name.end());
    out.push_back(dtype);
    out.push_back(static_cast<uint8_t>(t.dim()));
    for (int64_t d : t.sizes()) put_u(out, static_cast<uint64_t>(d), 8);
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    out.insert(out.end(), p, p + t.numel() * t.element_size());
  }
  const uint64_t h = fnv1a64(out.data(), out.size());
  put_u(out, h, 8);
  for (int i = 0; i < 8; ++i) w.hash[i] = static_cast<uint8_t>(h >> (8 * i));
  return out;
}

WeightFile parse_weights(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 8 + 4 + 4 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw WeightError("not a Lucid weight file (bad magic)");
  const size_t body = bytes.size() - 8;
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= uint64_t{bytes[body + i]} << (8 * i);
  if (fnv1a64(bytes.data(), body) != stored)
    throw WeightError("weight file is corrupt (content hash mismatch)");
  WeightFile w;
  for (int i = 0; i < 8; ++i) w.hash[i] = static_cast<uint8_t>(stored >> (8 * i));
  std::vector<uint8_t> view(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(body));
  Reader r{view, 8};
  const uint64_t meta_len = r.u(4);
  r.need(meta_len);
  std::istringstream meta(std::string(view.begin() + r.pos, view.begin() + r.pos + meta_len));
  r.pos += meta_len;
  for (std::string line; std::getline(meta, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos) throw WeightError("weight file metadata is malformed");
    w.meta[line.substr(0, eq)] = line.substr(eq + 1);
  }
  const uint64_t count = r.u(4);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t name_len = r.u(2);
    r.need(name_len);
    std::string name(view.begin() + r.pos, view.begin() + r.pos + name_len);
    r.pos += name_len;
    const int dtype = static_cast<int>(r.u(1));
    const int ndim = static_cast<int>(r.u(1));
    if (dtype > 2 || ndim > 8) throw WeightError("weight file has an invalid tensor header");
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; ++d) {
      const uint64_t v = r.u(8);
      if (v > kMaxWeightBytes) throw WeightError("weight file has an absurd tensor size");
      numel *= v;
      if (numel > kMaxWeightBytes) throw WeightError("weight file has an absurd tensor size");
      dims.push_back(static_cast<int64_t>(v));
    }
    const auto type = dtype == 0 ? torch::kFloat : dtype == 1 ? torch::kHalf : torch::kInt32;
    const uint64_t nbytes = numel * (dtype == 1 ? 2 : 4);
    r.need(nbytes);
    torch::Tensor t = torch::empty(dims, torch::TensorOptions().dtype(type));
    std::memcpy(t.data_ptr(), view.data() + r.pos, nbytes);
    r.pos += nbytes;
    if (dtype == 1) {
      t = t.to(torch::kFloat);
      w.stored_fp16 = true;
    }
    w.tensors.emplace_back(std::move(name), std::move(t));
  }
  if (r.pos != view.size()) throw WeightError("weight file has trailing bytes");
  return w;
}

void save_weights(const std::string& path, WeightFile& w, bool fp16) {
  const auto bytes = serialize_weights(w, fp16);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw WeightError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw WeightError("cannot rename to " + path);
}

WeightFile load_weights(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw WeightError("cannot open weight file " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  try {
    return parse_weights(bytes);
  } catch (const WeightError& e) {
    throw WeightError(path + ": " + e.what());
  }
}

std::string hash_hex(const std::array<uint8_t, 8>& hash) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : hash) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

ModelFile load_model_file(const std::string& path, const std::string& arch,
                          const std::string& what) {
  ModelFile f;
  f.weights = load_weights(path);
  try {
    const std::string& a = f.weights.get("arch");
    if (a != arch)
      throw WeightError("is a '" + a + "' model, not " + what + " ('" + arch + "')");
    f.model_id = f.weights.get("model_id");
    f.config = f.weights.get("config");
  } catch (const WeightError& e) {
    throw WeightError(path + ": " + e.what());
  }
  return f;
}

void export_module(torch::nn::Module& m, WeightFile& w, const std::string& prefix) {
  torch::NoGradGuard ng;
  for (const auto& p : m.named_parameters(true))
    w.tensors.emplace_back(prefix + p.key(), p.value().detach().to(torch::kCPU).to(torch::kFloat));
  for (const auto& b : m.named_buffers(true))
    w.tensors.emplace_back(prefix + b.key(), b.value().detach().to(torch::kCPU));
}

void import_module(torch::nn::Module& m, const WeightFile& w, const std::string& prefix) {
  torch::NoGradGuard ng;
  std::map<std::string, const torch::Tensor*> index;
  for (const auto& [n, t] : w.tensors) index[n] = &t;
  auto load = [&](const std::string& name, torch::Tensor& dst) {
    auto it = index.find(prefix + name);
    if (it == index.end())
      throw WeightError("weight file lacks tensor '" + prefix + name +
                        "' (file was made for a different model)");
    if (it->second->sizes() != dst.sizes()) {
      std::ostringstream s;
      s << "tensor '" << prefix << name << "' has shape " << it->second->sizes()
        << " in the weight file but the model expects " << dst.sizes();
      throw WeightError(s.str());
    }
    dst.copy_(it->second->to(dst.scalar_type()));
  };
  for (auto& p : m.named_parameters(true)) load(p.key(), p.value());
  for (auto& b : m.named_buffers(true)) load(b.key(), b.value());
}

}  // namespace lucid::models
