#include "checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace lucid::train::ckpt {

namespace {

constexpr char kMagic[9] = "LUCIDCK1";
constexpr int64_t kQ8Block = 64;
constexpr int64_t kLog8Block = 256;
constexpr int64_t kR4Block = 64;
constexpr int64_t kLargeElements = 4096;

const char* encoding_name(Encoding e) {
  switch (e) {
    case Encoding::kF32: return "f32";
    case Encoding::kF16: return "f16";
    case Encoding::kQ8: return "q8";
    case Encoding::kLog8: return "log8";
    case Encoding::kR4: return "r4";
  }
  return "?";
}

Encoding encoding_from(const std::string& s) {
  if (s == "f32") return Encoding::kF32;
  if (s == "f16") return Encoding::kF16;
  if (s == "q8") return Encoding::kQ8;
  if (s == "log8") return Encoding::kLog8;
  if (s == "r4") return Encoding::kR4;
  throw std::runtime_error("unknown tensor encoding '" + s + "'");
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > (int64_t(1) << 40)) throw std::runtime_error("bad tensor shape");
    n *= d;
  }
  return n;
}

int64_t blocks(int64_t n, int64_t b) { return (n + b - 1) / b; }

// The decoders, shared by encode (which returns what loading will give) and decode.
float q8_value(int8_t code, float scale) { return static_cast<float>(code) * (scale / 127.0f); }
float log8_value(uint8_t code, float lo, float step) {
  return code == 0 ? 0.0f : std::exp2(lo + static_cast<float>(code - 1) * step);
}
float r4_value(int code, float scale, float v) {
  return static_cast<float>(code) * (scale / 7.0f) * std::sqrt(v);
}
int r4_code(const std::string& s, int64_t nb, int64_t i) {
  const auto byte = static_cast<uint8_t>(s[4 * nb + i / 2]);
  return ((i & 1) ? byte >> 4 : byte & 15) - 8;
}

int64_t expected_bytes(Encoding e, int64_t n) {
  switch (e) {
    case Encoding::kF32: return 4 * n;
    case Encoding::kF16: return 2 * n;
    case Encoding::kQ8: return 4 * blocks(n, kQ8Block) + n;
    case Encoding::kLog8: return 8 * blocks(n, kLog8Block) + n;
    case Encoding::kR4: return 4 * blocks(n, kR4Block) + (n + 1) / 2;
  }
  return -1;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << v;
  return s.str();
}

std::string shape_text(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> out;
  if (s == "scalar") return out;
  std::stringstream in(s);
  for (std::string d; std::getline(in, d, 'x');) out.push_back(std::stoll(d));
  return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return f;
}

template <class T>
void put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
T get(const std::string& s, size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}

}  // namespace

bool is_large(const torch::Tensor& t) { return t.dim() >= 2 && t.numel() >= kLargeElements; }

Encoding weight_encoding(const torch::Tensor& cpu_values) {
  if (!is_large(cpu_values)) return Encoding::kF32;
  const torch::Tensor a = cpu_values.abs();
  const bool finite = torch::isfinite(cpu_values).all().item<bool>();
  return finite && a.max().item<float>() <= 65504.0f ? Encoding::kF16 : Encoding::kF32;
}

std::string encode(const torch::Tensor& x_in, Encoding e, torch::Tensor* decoded,
                   const torch::Tensor* v_in) {
  const torch::Tensor x = x_in.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = x.numel();
  const float* v = x.data_ptr<float>();
  torch::Tensor dec = torch::empty(x.sizes(), torch::kFloat);
  float* d = dec.data_ptr<float>();
  std::string out;
  switch (e) {
    case Encoding::kF32:
      out.assign(reinterpret_cast<const char*>(v), 4 * n);
      std::memcpy(d, v, 4 * n);
      break;
    case Encoding::kF16: {
      const torch::Tensor h = x.to(torch::kHalf).contiguous();
      out.assign(reinterpret_cast<const char*>(h.data_ptr<at::Half>()), 2 * n);
      dec.copy_(h.to(torch::kFloat));
      break;
    }
    case Encoding::kQ8: {
      const int64_t nb = blocks(n, kQ8Block);
      out.resize(4 * nb + n);
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t i0 = b * kQ8Block, i1 = std::min(n, i0 + kQ8Block);
        float amax = 0;
        for (int64_t i = i0; i < i1; ++i) {
          if (!std::isfinite(v[i])) throw std::runtime_error("non-finite value");
          amax = std::max(amax, std::fabs(v[i]));
        }
        std::memcpy(&out[4 * b], &amax, 4);
        const float s = amax / 127.0f;
        for (int64_t i = i0; i < i1; ++i) {
          const int8_t q = s > 0 ? static_cast<int8_t>(
                                       std::clamp(std::nearbyint(v[i] / s), -127.0f, 127.0f))
                                 : 0;
          out[4 * nb + i] = static_cast<char>(q);
          d[i] = q8_value(q, amax);
        }
      }
      break;
    }
    case Encoding::kLog8: {
      const int64_t nb = blocks(n, kLog8Block);
      out.resize(8 * nb + n);
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t i0 = b * kLog8Block, i1 = std::min(n, i0 + kLog8Block);
        double lo = HUGE_VAL, hi = -HUGE_VAL;
        for (int64_t i = i0; i < i1; ++i) {
          if (!(v[i] >= 0) || !std::isfinite(v[i]))
            throw std::runtime_error("log8: negative or non-finite value");
          if (v[i] > 0) {
            lo = std::min(lo, std::log2(static_cast<double>(v[i])));
            hi = std::max(hi, std::log2(static_cast<double>(v[i])));
          }
        }
        float flo = 0, fstep = 0;
        if (lo <= hi) {
          flo = static_cast<float>(lo);
          fstep = static_cast<float>((hi - lo) / 254.0);
        }
        std::memcpy(&out[8 * b], &flo, 4);
        std::memcpy(&out[8 * b + 4], &fstep, 4);
        for (int64_t i = i0; i < i1; ++i) {
          int c = 0;
          if (v[i] > 0) {
            const double l = std::log2(static_cast<double>(v[i]));
            c = fstep > 0 ? 1 + static_cast<int>(std::clamp(std::nearbyint((l - flo) / fstep),
                                                            0.0, 254.0))
                          : 1;
          }
          out[8 * nb + i] = static_cast<char>(static_cast<uint8_t>(c));
          d[i] = log8_value(static_cast<uint8_t>(c), flo, fstep);
        }
      }
      break;
    }
    case Encoding::kR4: {
      if (!v_in || v_in->numel() != n) throw std::runtime_error("r4 needs the decoded exp_avg_sq");
      const torch::Tensor vt = v_in->to(torch::kCPU, torch::kFloat).contiguous();
      const float* v2 = vt.data_ptr<float>();
      const int64_t nb = blocks(n, kR4Block);
      out.assign(4 * nb + (n + 1) / 2, '\0');
      std::vector<float> r(kR4Block);
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t i0 = b * kR4Block, i1 = std::min(n, i0 + kR4Block);
        float amax = 0;
        for (int64_t i = i0; i < i1; ++i) {
          if (!std::isfinite(v[i])) throw std::runtime_error("non-finite value");
          r[i - i0] = v2[i] > 0 ? v[i] / std::sqrt(v2[i]) : 0.0f;  // v = 0: no gradient, m ~ 0
          if (!std::isfinite(r[i - i0])) throw std::runtime_error("non-finite ratio");
          amax = std::max(amax, std::fabs(r[i - i0]));
        }
        std::memcpy(&out[4 * b], &amax, 4);
        const float s = amax / 7.0f;
        for (int64_t i = i0; i < i1; ++i) {
          const int q = s > 0 ? static_cast<int>(std::clamp(std::nearbyint(r[i - i0] / s), -7.0f, 7.0f))
                              : 0;
          auto& byte = reinterpret_cast<uint8_t&>(out[4 * nb + i / 2]);
          byte |= static_cast<uint8_t>((q + 8) << ((i & 1) ? 4 : 0));
          d[i] = r4_value(q, amax, v2[i]);
        }
      }
      break;
    }
  }
  if (decoded) *decoded = dec;
  return out;
}

torch::Tensor decode(const Entry& e, const torch::Tensor* v_in) {
  const int64_t n = numel_of(e.shape);
  if (static_cast<int64_t>(e.bytes.size()) != expected_bytes(e.encoding, n))
    throw std::runtime_error("tensor " + e.name + ": " + std::to_string(e.bytes.size()) +
                             " bytes, expected " + std::to_string(expected_bytes(e.encoding, n)));
  torch::Tensor dec = torch::empty(e.shape, torch::kFloat);
  float* d = dec.data_ptr<float>();
  const std::string& s = e.bytes;
  switch (e.encoding) {
    case Encoding::kF32:
      std::memcpy(d, s.data(), 4 * n);
      break;
    case Encoding::kF16: {
      torch::Tensor h = torch::empty(e.shape, torch::kHalf);
      std::memcpy(h.data_ptr<at::Half>(), s.data(), 2 * n);
      dec.copy_(h.to(torch::kFloat));
      break;
    }
    case Encoding::kQ8: {
      const int64_t nb = blocks(n, kQ8Block);
      for (int64_t i = 0; i < n; ++i)
        d[i] = q8_value(static_cast<int8_t>(s[4 * nb + i]), get<float>(s, 4 * (i / kQ8Block)));
      break;
    }
    case Encoding::kLog8: {
      const int64_t nb = blocks(n, kLog8Block);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t b = i / kLog8Block;
        const float lo = get<float>(s, 8 * b), step = get<float>(s, 8 * b + 4);
        d[i] = log8_value(static_cast<uint8_t>(s[8 * nb + i]), lo, step);
      }
      break;
    }
    case Encoding::kR4: {
      if (!v_in || v_in->numel() != n)
        throw std::runtime_error("tensor " + e.name + ": r4 needs the decoded exp_avg_sq");
      const torch::Tensor vt = v_in->to(torch::kCPU, torch::kFloat).contiguous();
      const float* v2 = vt.data_ptr<float>();
      const int64_t nb = blocks(n, kR4Block);
      for (int64_t i = 0; i < n; ++i)
        d[i] = r4_value(r4_code(s, nb, i), get<float>(s, 4 * (i / kR4Block)), v2[i]);
      break;
    }
  }
  return dec;
}

const Entry* File::find(const std::string& name) const {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

torch::Tensor File::tensor(const std::string& name) const {
  const Entry* e = find(name);
  if (!e) throw std::runtime_error("checkpoint has no tensor " + name);
  return decode(*e);
}

void write_file(const std::string& path, const File& f) {
  std::string payload;
  std::ostringstream head;
  for (const auto& [k, v] : f.meta) {
    if (k == "payload_fnv") continue;
    if (k.find_first_of("\t\n") != std::string::npos || v.find_first_of("\t\n") != std::string::npos)
      throw std::runtime_error("checkpoint meta " + k + ": tab or newline");
    head << "meta\t" << k << '\t' << v << '\n';
  }
  for (const auto& e : f.entries) {
    head << "tensor\t" << e.name << '\t' << encoding_name(e.encoding) << '\t'
         << shape_text(e.shape) << '\t' << payload.size() << '\t' << e.bytes.size() << '\n';
    payload += e.bytes;
  }
  head << "meta\tpayload_fnv\t" << hex64(fnv1a(payload)) << '\n';
  const std::string h = head.str();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(kMagic, 8);
  const uint64_t hl = h.size();
  out.write(reinterpret_cast<const char*>(&hl), 8);
  out << h << payload;
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + path);
}

File read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](const std::string& why) {
    return std::runtime_error(path + ": not a valid compact checkpoint (" + why + ")");
  };
  if (all.size() < 16 || all.compare(0, 8, kMagic) != 0) throw fail("bad magic");
  const uint64_t hl = get<uint64_t>(all, 8);
  if (hl > all.size() - 16) throw fail("header length past the end");
  const std::string head = all.substr(16, hl);
  const size_t base = 16 + hl;
  const std::string payload = all.substr(base);
  File f;
  std::istringstream lines(head);
  for (std::string line; std::getline(lines, line);) {
    const auto t = split_tabs(line);
    if (t[0] == "meta" && t.size() == 3) {
      f.meta[t[1]] = t[2];
    } else if (t[0] == "tensor" && t.size() == 6) {
      Entry e;
      e.name = t[1];
      e.encoding = encoding_from(t[2]);
      e.shape = parse_shape(t[3]);
      const uint64_t off = std::stoull(t[4]), len = std::stoull(t[5]);
      if (off > payload.size() || len > payload.size() - off) throw fail("tensor " + e.name + " past the end");
      if (static_cast<int64_t>(len) != expected_bytes(e.encoding, numel_of(e.shape)))
        throw fail("tensor " + e.name + " has the wrong size");
      e.bytes = payload.substr(off, len);
      f.entries.push_back(std::move(e));
    } else {
      throw fail("bad header line '" + line.substr(0, 80) + "'");
    }
  }
  const auto it = f.meta.find("payload_fnv");
  if (it == f.meta.end() || it->second != hex64(fnv1a(payload)))
    throw fail("payload checksum mismatch (truncated or damaged file)");
  return f;
}

}  // namespace lucid::train::ckpt
