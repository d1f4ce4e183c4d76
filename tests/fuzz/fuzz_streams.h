// What the fuzz target decodes, shared with the seed corpus generator so that the seeds are
// streams the target decodes fully and correctly (deep coverage from the first run).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lucid/entropy/cdf.h"
#include "lucid/entropy/rans.h"

namespace lucid::entropy::fuzz {

// Symbols decoded per chunk: the image area, bounded so each input stays fast.
constexpr uint32_t kMaxSymbolsPerChunk = 1u << 14;

inline uint32_t symbols_for(uint32_t width, uint32_t height) {
  const uint64_t area = uint64_t{width} * height;
  return area < kMaxSymbolsPerChunk ? static_cast<uint32_t>(area) : kMaxSymbolsPerChunk;
}

// Table index of symbol i of chunk `chunk`: a cheap hash onto the 64 Gaussian tables.
inline int table_for(uint32_t i, uint32_t chunk, uint32_t width) {
  const uint32_t h = (i * 0x9E3779B1u) ^ (chunk * 0x85EBCA6Bu) ^ (width * 0xC2B2AE35u);
  return static_cast<int>((h ^ (h >> 15)) * 0x2C1B3C6Du >> 26);  // top 6 bits: 0..63
}

// The 64 CompressAI-default Gaussian tables, built once.
inline const CdfSet& gaussian_tables() {
  static const CdfSet* set = [] {
    auto* s = new CdfSet;  // never destroyed: fuzzers exit without running destructors anyway
    add_gaussian_tables(*s, make_scale_table());
    return s;
  }();
  return *set;
}

}  // namespace lucid::entropy::fuzz
