// lucid-bench-entropy: single-thread speed and coding efficiency of the rANS coder.
//
// Codes N symbols (default 10 M) drawn from zero-mean Gaussians whose scale is picked at random
// per symbol from the 64-entry CompressAI scale table, through the per-symbol encode()/decode()
// API, verifies the decoded values and prints one line:
//   entropy: encode <X> Msym/s, decode <Y> Msym/s, <Z> bits/sym (ideal <W>)
//
// The model: Gaussian tables whose escape covers a 1% tail on each side (tail_mass 0.01), and
// data drawn with a 12% larger scale than the table's, so about 2% of the symbols escape and are
// coded as escape + Elias-gamma bypass bits. The escape probability is a real part of the model
// here; with the codec's default 1e-9 tail an escape's double-model probability (~30 bits)
// would be far below its 1/65536 floor in the integer table, and "ideal" would mean nothing.
//
// ideal = sum over symbols of -log2 of the exact double model probability (gaussian_pmf(), the
// escape's mass for escaped values) plus each escape's bypass bits at their raw length.
// Speed: best of --repeat runs (default 3), each timing all encode() calls plus finish(), and
// decoder construction plus all decode() calls plus finish().
//
// Flags (lucid::flags, as in every Lucid tool): --symbols N (1..1e9), --seed S, --repeat R
// (1..1000), --tail-mass T (1e-12..0.499), --scale-factor F (1e-6..1e6); -h/--help prints the
// usage.
// Exit status: 0 ok (help included), 1 decode mismatch, 2 usage error.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lucid/entropy/cdf.h"
#include "lucid/entropy/rans.h"
#include "flags.h"

namespace {

using lucid::entropy::CdfSet;
using lucid::entropy::DecodeStatus;
using lucid::entropy::RansDecoder;
using lucid::entropy::RansEncoder;

struct Options {
  size_t symbols = 10'000'000;
  uint64_t seed = 1;
  int repeat = 3;
  double tail_mass = 0.01;
  double scale_factor = 1.12;
};

// SplitMix64 + Box-Muller: fast enough that data generation is not the bottleneck.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u1 = 1.0 - uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * uniform());
  }

 private:
  uint64_t state_;
};

constexpr const char* kUsage =
    "usage: lucid-bench-entropy [--symbols N (10000000)] [--seed S (1)] [--repeat R (3)] "
    "[--tail-mass T (0.01)] [--scale-factor F (1.12)]\n";

// The flags through lucid::flags, as every Lucid tool reads them. Throws flags::UsageError, or
// flags::Help for -h/--help.
Options parse_flags(int argc, char** argv) {
  namespace flags = lucid::flags;
  Options o;
  flags::Parser parser("lucid-bench-entropy", flags::Wording::kFlagFirst, /*positionals=*/false);
  parser.setter("--symbols", [&](const std::string& v) {
    o.symbols = static_cast<size_t>(flags::parse_int("--symbols", v, 1, 1'000'000'000));
  });
  parser.setter("--seed", [&](const std::string& v) {
    o.seed = static_cast<uint64_t>(flags::parse_int("--seed", v, 0, INT64_MAX));
  });
  parser.setter("--repeat", [&](const std::string& v) {
    o.repeat = static_cast<int>(flags::parse_int("--repeat", v, 1, 1000));
  });
  parser.setter("--tail-mass", [&](const std::string& v) {
    o.tail_mass = flags::parse_double("--tail-mass", v, 1e-12, 0.499);
  });
  parser.setter("--scale-factor", [&](const std::string& v) {
    o.scale_factor = flags::parse_double("--scale-factor", v, 1e-6, 1e6);
  });
  parser.parse(argc, argv, 1);
  return o;
}

// Bits of the Elias-gamma bypass code for `value` outside [low, high] (see rans.h).
double bypass_bits(int64_t value, int64_t low, int64_t high) {
  const uint64_t zigzag = value > high ? 2 * static_cast<uint64_t>(value - high - 1)
                                       : 2 * static_cast<uint64_t>(low - 1 - value) + 1;
  int length = 0;
  for (uint64_t u = zigzag + 1; u != 0; u >>= 1) ++length;
  return 2.0 * length - 1.0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    opt = parse_flags(argc, argv);
  } catch (const lucid::flags::Help&) {
    std::fputs(kUsage, stdout);
    return 0;
  } catch (const lucid::flags::UsageError& e) {
    std::fprintf(stderr, "error: %s\n%s", e.what(), kUsage);
    return 2;
  }

  const std::vector<double> scales = lucid::entropy::make_scale_table();
  CdfSet set;
  lucid::entropy::add_gaussian_tables(set, scales, opt.tail_mass);
  std::vector<std::vector<double>> pmfs;
  for (double s : scales) pmfs.push_back(lucid::entropy::gaussian_pmf(s, opt.tail_mass, nullptr));

  // Data and its ideal code length.
  Random rng(opt.seed);
  std::vector<int32_t> values(opt.symbols);
  std::vector<int32_t> indexes(opt.symbols);
  double ideal_bits = 0.0;
  for (size_t i = 0; i < opt.symbols; ++i) {
    const int t = static_cast<int>(rng.next() % scales.size());
    const double x = std::nearbyint(rng.normal() * scales[t] * opt.scale_factor);
    const int32_t v = static_cast<int32_t>(std::fmax(-2e9, std::fmin(2e9, x)));
    values[i] = v;
    indexes[i] = t;
    const int64_t low = set.offset(t);
    const int64_t high = low + set.num_symbols(t) - 2;
    if (v >= low && v <= high) {
      ideal_bits -= std::log2(pmfs[t][v - low]);
    } else {
      ideal_bits += -std::log2(pmfs[t].back()) + bypass_bits(v, low, high);
    }
  }

  double best_encode = 1e300;
  double best_decode = 1e300;
  size_t coded_bytes = 0;
  for (int run = 0; run < opt.repeat; ++run) {
    auto start = std::chrono::steady_clock::now();
    RansEncoder encoder(set);
    for (size_t i = 0; i < opt.symbols; ++i) encoder.encode(values[i], indexes[i]);
    const std::vector<uint8_t> bytes = encoder.finish();
    best_encode = std::fmin(best_encode, seconds_since(start));
    coded_bytes = bytes.size();

    std::vector<int32_t> decoded(opt.symbols);
    start = std::chrono::steady_clock::now();
    RansDecoder decoder(set, bytes.data(), bytes.size());
    for (size_t i = 0; i < opt.symbols; ++i) decoded[i] = decoder.decode(indexes[i]);
    const DecodeStatus status = decoder.finish();
    best_decode = std::fmin(best_decode, seconds_since(start));

    if (status != DecodeStatus::kOk || decoded != values) {
      std::fprintf(stderr, "error: lucid-bench-entropy: decoded symbols differ from the input\n");
      return 1;
    }
  }

  const double n = static_cast<double>(opt.symbols);
  const double per_symbol = n > 0 ? 1.0 / n : 0.0;
  std::printf("entropy: encode %.1f Msym/s, decode %.1f Msym/s, %.4f bits/sym (ideal %.4f)\n",
              n / best_encode / 1e6, n / best_decode / 1e6, 8.0 * coded_bytes * per_symbol,
              ideal_bits * per_symbol);
  return 0;
}
