// MSB-first bit reader over an RBSP (emulation prevention already removed) with the Exp-Golomb
// (HEVC) and AV1 (uvlc, leb128-free ns(n), su) readers. Reading past the end throws
// BitstreamError, so a truncated header can never be parsed as if its missing bits were zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lucid::video::detail {

struct BitstreamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_bits_(size * 8) {}

  uint32_t bit() {
    if (pos_ >= size_bits_) throw BitstreamError("header truncated");
    const uint32_t b = (data_[pos_ >> 3] >> (7 - (pos_ & 7))) & 1u;
    ++pos_;
    return b;
  }
  // n <= 32 bits, MSB first.
  uint32_t bits(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 1) | bit();
    return static_cast<uint32_t>(v);
  }
  void skip(size_t n) {
    if (size_bits_ - pos_ < n) throw BitstreamError("header truncated");
    pos_ += n;
  }
  // HEVC ue(v); values above 2^32-2 are invalid in every syntax element we read.
  uint32_t ue() {
    int zeros = 0;
    while (bit() == 0) {
      if (++zeros > 31) throw BitstreamError("Exp-Golomb code too long");
    }
    return static_cast<uint32_t>((uint64_t{1} << zeros) - 1 + bits(zeros));
  }
  int32_t se() {
    const uint32_t k = ue();
    return (k & 1) ? static_cast<int32_t>((k + 1) / 2) : -static_cast<int32_t>(k / 2);
  }
  // ue(v) with a range check: throws when the value exceeds max.
  uint32_t ue_max(uint32_t max, const char* what) {
    const uint32_t v = ue();
    if (v > max) throw BitstreamError(std::string(what) + " out of range (" + std::to_string(v) + ")");
    return v;
  }
  int32_t se_range(int32_t lo, int32_t hi, const char* what) {
    const int32_t v = se();
    if (v < lo || v > hi) throw BitstreamError(std::string(what) + " out of range (" + std::to_string(v) + ")");
    return v;
  }
  // AV1 uvlc().
  uint32_t uvlc() {
    int zeros = 0;
    while (bit() == 0) {
      ++zeros;
      if (zeros >= 32) {
        // The spec returns 2^32-1 after 32 leading zeros; no value we read may be that large.
        throw BitstreamError("uvlc code too long");
      }
    }
    return static_cast<uint32_t>((uint64_t{1} << zeros) - 1 + bits(zeros));
  }
  // AV1 ns(n): non-symmetric unsigned value in [0, n).
  uint32_t ns(uint32_t n) {
    if (n <= 1) return 0;
    int w = 0;
    for (uint32_t x = n; x != 0; x >>= 1) ++w;  // FloorLog2(n) + 1
    const uint32_t m = (1u << w) - n;
    const uint32_t v = bits(w - 1);
    if (v < m) return v;
    return (v << 1) - m + bit();
  }
  size_t position() const { return pos_; }
  size_t remaining() const { return size_bits_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_bits_;
  size_t pos_ = 0;
};

// Removes H.264/HEVC emulation-prevention bytes (00 00 03 -> 00 00).
inline std::vector<uint8_t> unescape_rbsp(const uint8_t* p, size_t n) {
  std::vector<uint8_t> out;
  out.reserve(n);
  int zeros = 0;
  for (size_t i = 0; i < n; ++i) {
    if (zeros >= 2 && p[i] == 3) {
      zeros = 0;
      continue;
    }
    zeros = p[i] == 0 ? zeros + 1 : 0;
    out.push_back(p[i]);
  }
  return out;
}

// Ceil(Log2(n)) for n >= 1 (0 for n <= 1).
inline int ceil_log2(uint32_t n) {
  int k = 0;
  while ((uint64_t{1} << k) < n) ++k;
  return k;
}

}  // namespace lucid::video::detail
