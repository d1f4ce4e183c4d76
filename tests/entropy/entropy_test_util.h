// Helpers shared by the entropy tests: a portable random generator (std:: distributions are
// implementation defined, which golden tests cannot afford) and small builders.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "lucid/entropy/cdf.h"
#include "lucid/entropy/rans.h"

namespace lucid::entropy::test {

// SplitMix64: tiny, fast, and the same sequence everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (n > 0); the tiny modulo bias does not matter for tests.
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal by Box-Muller (libm based: not for golden tests).
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

inline CdfSet default_gaussian_set(std::vector<double>* scales_out = nullptr) {
  const std::vector<double> scales = make_scale_table();
  CdfSet set;
  add_gaussian_tables(set, scales);
  if (scales_out != nullptr) *scales_out = scales;
  return set;
}

}  // namespace lucid::entropy::test
