#include "lucid/entropy/rans.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "entropy_test_util.h"
#include "lucid/entropy/cdf.h"

namespace lucid::entropy {
namespace {

constexpr uint32_t kTotal = 1u << kCdfPrecision;

struct Symbols {
  std::vector<int32_t> values;
  std::vector<int32_t> indexes;
  size_t size() const { return values.size(); }
  void push(int32_t v, int32_t i) {
    values.push_back(v);
    indexes.push_back(i);
  }
};

std::vector<uint8_t> encode_all(const CdfSet& set, const Symbols& s) {
  RansEncoder enc(set);
  for (size_t i = 0; i < s.size(); ++i) enc.encode(s.values[i], s.indexes[i]);
  return enc.finish();
}

// Decodes and checks every value, the status and finish().
void expect_round_trip(const CdfSet& set, const Symbols& s) {
  const std::vector<uint8_t> bytes = encode_all(set, s);
  RansDecoder dec(set, bytes.data(), bytes.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const int32_t got = dec.decode(s.indexes[i]);
    ASSERT_EQ(got, s.values[i]) << "symbol " << i << " of " << s.size() << ", table "
                                << s.indexes[i];
  }
  EXPECT_EQ(dec.status(), DecodeStatus::kOk);
  EXPECT_EQ(dec.finish(), DecodeStatus::kOk);
}

// A random valid CDF of n symbols: random positive frequencies summing to 2^16.
std::vector<uint32_t> random_cdf(test::SplitMix64& rng, uint32_t n) {
  if (n > 1000) {
    // Large tables: n - 1 distinct random cut points in [1, 65535] (selection sampling), which
    // is much faster than quantize_pmf and gives many minimum-frequency symbols.
    std::vector<uint32_t> cdf{0};
    uint32_t needed = n - 1;
    for (uint32_t c = 1; c < kTotal && needed > 0; ++c) {
      if (rng.below(kTotal - c) < needed) {
        cdf.push_back(c);
        --needed;
      }
    }
    cdf.push_back(kTotal);
    return cdf;
  }
  std::vector<double> p(n);
  const bool peaked = rng.below(2) == 0;
  for (auto& x : p) x = peaked ? std::pow(rng.uniform(), 8.0) : rng.uniform();
  if (rng.below(4) == 0) p[rng.below(n)] = 0.0;  // an impossible symbol still gets 1
  if (rng.below(3) == 0) p.back() = 0.0;          // escape "never" happens
  double sum = 0;
  for (double x : p) sum += x;
  if (sum == 0) p[0] = 1;
  return quantize_pmf(p);
}

CdfSet random_set(test::SplitMix64& rng) {
  CdfSet set;
  const int tables = 1 + static_cast<int>(rng.below(20));
  for (int t = 0; t < tables; ++t) {
    uint32_t n;
    switch (rng.below(6)) {
      case 0: n = 2; break;                                          // just 1 value + escape
      case 1: n = 2 + static_cast<uint32_t>(rng.below(kTotal - 1)); break;  // up to 65536
      default: n = 2 + static_cast<uint32_t>(rng.below(60)); break;
    }
    int32_t offset;
    switch (rng.below(5)) {
      case 0: offset = std::numeric_limits<int32_t>::min(); break;
      case 1: offset = static_cast<int32_t>(std::numeric_limits<int32_t>::max() - (n - 2)); break;
      default: offset = static_cast<int32_t>(rng.below(2001)) - 1000 - static_cast<int32_t>(n / 2);
    }
    set.add(random_cdf(rng, n), offset);
  }
  return set;
}

int32_t random_value_for(test::SplitMix64& rng, const CdfSet& set, int table) {
  const int64_t lo = set.offset(table);
  const int64_t hi = lo + set.num_symbols(table) - 2;
  switch (rng.below(10)) {
    case 0: return std::numeric_limits<int32_t>::min();
    case 1: return std::numeric_limits<int32_t>::max();
    case 2: return static_cast<int32_t>(rng.next());  // anything
    case 3: {  // just outside the range (clamped into int32)
      const int64_t v = rng.below(2) ? lo - 1 - static_cast<int64_t>(rng.below(40))
                                     : hi + 1 + static_cast<int64_t>(rng.below(40));
      return static_cast<int32_t>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX));
    }
    default:
      return static_cast<int32_t>(lo + static_cast<int64_t>(rng.below(hi - lo + 1)));
  }
}

TEST(Rans, EmptySequenceIsAValidSmallStream) {
  const CdfSet set = test::default_gaussian_set();
  RansEncoder enc(set);
  const std::vector<uint8_t> bytes = enc.finish();
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 0, 0, 1}));  // the initial state 2^24
  RansDecoder dec(set, bytes.data(), bytes.size());
  EXPECT_EQ(dec.finish(), DecodeStatus::kOk);
  // The encoder is reusable after finish().
  enc.encode(3, 10);
  const std::vector<uint8_t> again = enc.finish();
  RansDecoder dec2(set, again.data(), again.size());
  EXPECT_EQ(dec2.decode(10), 3);
  EXPECT_EQ(dec2.finish(), DecodeStatus::kOk);
}

TEST(Rans, SingleSymbolEveryTableAndEscape) {
  const CdfSet set = test::default_gaussian_set();
  for (int t = 0; t < static_cast<int>(set.size()); ++t) {
    for (int32_t v : {0, 1, -1, set.offset(t), -set.offset(t), set.offset(t) - 1,
                      -set.offset(t) + 1, INT32_MIN, INT32_MAX}) {
      Symbols s;
      s.push(v, t);
      expect_round_trip(set, s);
    }
  }
}

TEST(Rans, RandomCdfSetsRoundTrip) {
  test::SplitMix64 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    const CdfSet set = random_set(rng);
    Symbols s;
    const size_t count = rng.below(4) == 0 ? rng.below(3) : rng.below(3000);
    for (size_t i = 0; i < count; ++i) {
      const int table = static_cast<int>(rng.below(set.size()));
      s.push(random_value_for(rng, set, table), table);
    }
    SCOPED_TRACE("trial " + std::to_string(trial));
    expect_round_trip(set, s);
    if (testing::Test::HasFatalFailure()) return;
  }
}

TEST(Rans, EveryEscapeDistanceBitLength) {
  // Values at 2^k - 1, 2^k, 2^k + 1 from the range on both sides exercise each Elias-gamma
  // length and the 16-bit chunk boundaries of the bypass suffix.
  CdfSet set;
  set.add(quantize_pmf({0.25, 0.25, 0.25, 0.25, 1e-3}), -1);  // values -1..2
  set.add(quantize_pmf({1.0, 1e-3}), INT32_MIN);
  set.add(quantize_pmf({1.0, 1e-3}), INT32_MAX);
  Symbols s;
  for (int k = 0; k <= 32; ++k) {
    for (int64_t d : {(int64_t{1} << k) - 1, int64_t{1} << k, (int64_t{1} << k) + 1}) {
      for (int table = 0; table < 3; ++table) {
        const int64_t lo = set.offset(table), hi = lo + set.num_symbols(table) - 2;
        for (int64_t v : {hi + 1 + d, lo - 1 - d}) {
          if (v >= INT32_MIN && v <= INT32_MAX) s.push(static_cast<int32_t>(v), table);
        }
      }
    }
  }
  expect_round_trip(set, s);
}

TEST(Rans, LargeGaussianStream) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  test::SplitMix64 rng(5);
  Symbols s;
  for (int i = 0; i < 2000000; ++i) {
    const int t = static_cast<int>(rng.below(64));
    s.push(static_cast<int32_t>(std::lround(rng.normal() * scales[t] * 1.3)), t);
  }
  expect_round_trip(set, s);
}

TEST(Rans, SegmentBoundaries) {
  // Streams are cut into segments of kSegmentSymbols; check counts around the boundary.
  CdfSet set;
  set.add(quantize_pmf({0.3, 0.3, 0.3, 0.1}), -1);
  const size_t k = RansEncoder::kSegmentSymbols;
  test::SplitMix64 rng(12);
  for (size_t count : {k - 1, k, k + 1, 2 * k}) {
    Symbols s;
    for (size_t i = 0; i < count; ++i) {
      s.push(rng.below(50) == 0 ? static_cast<int32_t>(rng.next())
                                : static_cast<int32_t>(rng.below(3)) - 1,
             0);
    }
    SCOPED_TRACE("count " + std::to_string(count));
    expect_round_trip(set, s);
    // Stopping one symbol early is caught, also right at a boundary.
    const std::vector<uint8_t> bytes = encode_all(set, s);
    RansDecoder early(set, bytes.data(), bytes.size());
    for (size_t i = 0; i + 1 < count; ++i) early.decode(0);
    EXPECT_NE(early.finish(), DecodeStatus::kOk);
  }
}

TEST(Rans, BulkApiMatchesPerSymbolApi) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  test::SplitMix64 rng(6);
  Symbols s;
  for (int i = 0; i < 10000; ++i) {
    const int t = static_cast<int>(rng.below(64));
    s.push(static_cast<int32_t>(std::lround(rng.normal() * scales[t] * 3)), t);
  }
  RansEncoder enc(set);
  enc.encode(s.values.data(), s.indexes.data(), s.size());
  const std::vector<uint8_t> bulk = enc.finish();
  EXPECT_EQ(bulk, encode_all(set, s));
  std::vector<int32_t> out(s.size());
  RansDecoder dec(set, bulk.data(), bulk.size());
  EXPECT_EQ(dec.decode(s.indexes.data(), s.size(), out.data()), DecodeStatus::kOk);
  EXPECT_EQ(out, s.values);
  EXPECT_EQ(dec.finish(), DecodeStatus::kOk);
}

TEST(Rans, CodedSizeCloseToIdeal) {
  // Data drawn from the model itself: the coded size must be within 0.5% of the information
  // content under the exact (double) model, and within 0.01% + the 4 state bytes of the
  // information content under the quantized tables (the coder's own overhead).
  const std::vector<double> scales = make_scale_table();
  const double tail_mass = 1e-3;  // escapes frequent enough to matter
  CdfSet set;
  add_gaussian_tables(set, scales, tail_mass);
  std::vector<std::vector<double>> pmfs;
  for (double sc : scales) pmfs.push_back(gaussian_pmf(sc, tail_mass, nullptr));

  test::SplitMix64 rng(8);
  Symbols s;
  double ideal_bits = 0, table_bits = 0;
  for (int i = 0; i < 500000; ++i) {
    const int t = static_cast<int>(rng.below(64));
    const int32_t radius = -set.offset(t);
    // Sample the double model by inversion.
    double u = rng.uniform();
    size_t k = 0;
    while (k + 1 < pmfs[t].size() && u >= pmfs[t][k]) u -= pmfs[t][k++];
    int32_t value;
    double bypass_bits = 0;
    if (k + 1 == pmfs[t].size()) {  // escape: a value just outside the range
      const uint32_t d = static_cast<uint32_t>(rng.below(8));
      const bool below = rng.below(2) == 0;
      value = below ? -radius - 1 - static_cast<int32_t>(d) : radius + 1 + static_cast<int32_t>(d);
      const uint64_t u_gamma = 2 * uint64_t{d} + (below ? 1 : 0) + 1;
      bypass_bits = 2 * std::floor(std::log2(static_cast<double>(u_gamma))) + 1;
    } else {
      value = static_cast<int32_t>(k) - radius;
    }
    s.push(value, t);
    const uint32_t* cdf = set.cdf(t);
    ideal_bits += -std::log2(pmfs[t][k]) + bypass_bits;
    table_bits += -std::log2((cdf[k + 1] - cdf[k]) / double(kTotal)) + bypass_bits;
  }
  const std::vector<uint8_t> bytes = encode_all(set, s);
  const double coded_bits = 8.0 * bytes.size();
  EXPECT_LE(std::abs(coded_bits - ideal_bits), 0.005 * ideal_bits)
      << coded_bits << " vs ideal " << ideal_bits;
  EXPECT_LE(coded_bits, table_bits * 1.0001 + 40) << coded_bits << " vs " << table_bits;
  EXPECT_GE(coded_bits, table_bits - 40);
}

TEST(Rans, InvalidIndexThrows) {
  const CdfSet set = test::default_gaussian_set();
  RansEncoder enc(set);
  EXPECT_THROW(enc.encode(0, -1), std::out_of_range);
  EXPECT_THROW(enc.encode(0, 64), std::out_of_range);
  const int32_t v = 0, bad = 99;
  EXPECT_THROW(enc.encode(&v, &bad, 1), std::out_of_range);
  const std::vector<uint8_t> bytes = enc.finish();
  RansDecoder dec(set, bytes.data(), bytes.size());
  EXPECT_THROW(dec.decode(64), std::out_of_range);
  EXPECT_THROW(dec.decode(-7), std::out_of_range);
}

TEST(Rans, CdfSetRejectsInvalidTables) {
  CdfSet set;
  EXPECT_THROW(set.add({0, kTotal}, 0), std::invalid_argument);            // 1 symbol
  EXPECT_THROW(set.add({0, 100, kTotal - 1}, 0), std::invalid_argument);   // wrong total
  EXPECT_THROW(set.add({1, 100, kTotal}, 0), std::invalid_argument);       // wrong start
  EXPECT_THROW(set.add({0, 100, 100, kTotal}, 0), std::invalid_argument);  // zero frequency
  EXPECT_THROW(set.add({0, 200, 100, kTotal}, 0), std::invalid_argument);  // decreasing
  EXPECT_THROW(set.add({0, 1, 2, kTotal}, INT32_MAX), std::invalid_argument);  // range > int32
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(set.add({0, 1, 2, kTotal}, INT32_MAX - 1), 0);
  EXPECT_EQ(set.add({0, kTotal - 1, kTotal}, INT32_MIN), 1);
}

TEST(Rans, TruncationAtEveryLengthIsReported) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  test::SplitMix64 rng(9);
  Symbols s;
  for (int i = 0; i < 400; ++i) {
    const int t = static_cast<int>(rng.below(64));
    s.push(static_cast<int32_t>(std::lround(rng.normal() * scales[t] * (i % 50 == 0 ? 20 : 1))), t);
  }
  const std::vector<uint8_t> bytes = encode_all(set, s);
  for (size_t len = 0; len < bytes.size(); ++len) {
    RansDecoder dec(set, bytes.data(), len);
    for (size_t i = 0; i < s.size(); ++i) dec.decode(s.indexes[i]);
    ASSERT_EQ(dec.finish(), DecodeStatus::kTruncated) << "length " << len;
  }
  // Trailing bytes and impossible states are corrupt.
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  RansDecoder trailing(set, longer.data(), longer.size());
  for (size_t i = 0; i < s.size(); ++i) trailing.decode(s.indexes[i]);
  EXPECT_EQ(trailing.finish(), DecodeStatus::kCorrupt);
  const uint8_t low_state[4] = {0xFF, 0xFF, 0xFF, 0x00};  // below 2^24: impossible
  RansDecoder low(set, low_state, sizeof low_state);
  EXPECT_EQ(low.status(), DecodeStatus::kCorrupt);
  RansDecoder null_data(set, nullptr, 100);
  EXPECT_EQ(null_data.finish(), DecodeStatus::kTruncated);
}

TEST(Rans, BitFlipsNeverCrashAndAreMostlyDetected) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  test::SplitMix64 rng(10);
  Symbols s;
  for (int i = 0; i < 300; ++i) {
    const int t = static_cast<int>(rng.below(64));
    s.push(static_cast<int32_t>(std::lround(rng.normal() * scales[t])), t);
  }
  const std::vector<uint8_t> bytes = encode_all(set, s);
  // The rANS stream itself has no checksum (the container's CRCs catch flips), but most flips
  // leave a wrong final state or unconsumed bytes.
  size_t detected = 0, total = 0;
  for (size_t bit = 0; bit < 8 * bytes.size(); ++bit) {
    std::vector<uint8_t> flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    RansDecoder dec(set, flipped.data(), flipped.size());
    for (size_t i = 0; i < s.size(); ++i) dec.decode(s.indexes[i]);
    ++total;
    detected += dec.finish() != DecodeStatus::kOk;
  }
  EXPECT_GT(detected, total * 9 / 10) << detected << " of " << total;
}

TEST(Rans, GarbageInputTerminatesWithoutCrashing) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  CdfSet tiny;
  tiny.add({0, 1, kTotal}, 0);  // the escape takes almost all the probability: worst case
  test::SplitMix64 rng(11);
  const auto start = std::chrono::steady_clock::now();
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> junk(rng.below(300));
    for (auto& b : junk) b = static_cast<uint8_t>(rng.next());
    const bool use_tiny = trial % 3 == 0;
    RansDecoder dec(use_tiny ? tiny : set, junk.data(), junk.size());
    for (int i = 0; i < 500; ++i) {
      const int32_t v = dec.decode(use_tiny ? 0 : static_cast<int>(rng.below(64)));
      (void)v;
    }
    const DecodeStatus st = dec.finish();
    EXPECT_TRUE(st == DecodeStatus::kOk || st == DecodeStatus::kTruncated ||
                st == DecodeStatus::kCorrupt);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

}  // namespace
}  // namespace lucid::entropy
