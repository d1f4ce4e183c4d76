#include "lucid/entropy/cdf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "entropy_test_util.h"

namespace lucid::entropy {
namespace {

constexpr uint32_t kTotal = 1u << kCdfPrecision;

std::vector<uint32_t> freqs_of(const std::vector<uint32_t>& cdf) {
  std::vector<uint32_t> f(cdf.size() - 1);
  for (size_t i = 0; i + 1 < cdf.size(); ++i) f[i] = cdf[i + 1] - cdf[i];
  return f;
}

// Expected code length in bits of data distributed as `probs` (normalised) under `freq`.
double cross_entropy_bits(const std::vector<double>& probs, const std::vector<uint32_t>& freq) {
  double total = 0.0;
  for (double p : probs) total += p;
  double bits = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] > 0) bits -= probs[i] / total * std::log2(freq[i] / double(kTotal));
  }
  return bits;
}

void expect_valid_cdf(const std::vector<uint32_t>& cdf, size_t num_symbols) {
  ASSERT_EQ(cdf.size(), num_symbols + 1);
  EXPECT_EQ(cdf.front(), 0u);
  EXPECT_EQ(cdf.back(), kTotal);
  for (size_t i = 1; i < cdf.size(); ++i) ASSERT_GT(cdf[i], cdf[i - 1]) << "symbol " << i - 1;
}

// ---------------------------------------------------------------------------------------------
// normal_cdf

TEST(NormalCdf, MatchesLibmClosely) {
  // Reference in long double where it is wider than double, so that rounding x / sqrt(2) in the
  // reference does not dominate the comparison in the far tail.
  const bool wide = sizeof(long double) > sizeof(double);
  for (double x = -38.0; x <= 38.0; x += 0.0137) {
    const long double expected = 0.5L * std::erfc(-static_cast<long double>(x) / std::sqrt(2.0L));
    const double got = normal_cdf(x);
    ASSERT_NEAR(got, static_cast<double>(expected), 2e-15) << x;
    if (x < -1.0 && expected > 1e-300L) {
      ASSERT_NEAR(static_cast<double>(got / expected), 1.0, wide ? 2e-14 : 1e-12)
          << "lower tail relative error at " << x;
    }
  }
}

TEST(NormalCdf, SpecialValuesAndSymmetry) {
  EXPECT_EQ(normal_cdf(0.0), 0.5);
  EXPECT_EQ(normal_cdf(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(normal_cdf(std::numeric_limits<double>::infinity()), 1.0);
  EXPECT_TRUE(std::isnan(normal_cdf(std::numeric_limits<double>::quiet_NaN())));
  for (double x = 0.0; x < 10.0; x += 0.1) {
    EXPECT_NEAR(normal_cdf(x) + normal_cdf(-x), 1.0, 1e-15);
    EXPECT_LE(normal_cdf(x), normal_cdf(x + 0.1));
  }
}

// ---------------------------------------------------------------------------------------------
// quantize_pmf

TEST(QuantizePmf, InvariantsOnRandomPmfs) {
  test::SplitMix64 rng(1);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 2 + rng.below(trial % 10 == 0 ? 5000 : 300);
    std::vector<double> probs(n);
    for (auto& p : probs) {
      switch (rng.below(4)) {
        case 0: p = 0.0; break;                                     // impossible symbol
        case 1: p = std::pow(10.0, -15.0 * rng.uniform()); break;  // wide dynamic range
        default: p = rng.uniform(); break;
      }
    }
    const std::vector<uint32_t> cdf = quantize_pmf(probs);
    expect_valid_cdf(cdf, n);
    EXPECT_EQ(quantize_pmf(probs), cdf) << "not deterministic";
  }
}

TEST(QuantizePmf, NoSingleExchangeImprovesTheCost) {
  // The result should be optimal: moving one unit of frequency from any symbol to any other
  // must not lower the expected code length.
  test::SplitMix64 rng(2);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t n = 2 + rng.below(60);
    std::vector<double> probs(n);
    for (auto& p : probs) p = rng.uniform() * rng.uniform();
    const std::vector<uint32_t> f = freqs_of(quantize_pmf(probs));
    double total = 0;
    for (double p : probs) total += p;
    double best_gain = 0, least_loss = 1e300;
    for (size_t i = 0; i < n; ++i) {
      const double q = probs[i] / total;
      best_gain = std::max(best_gain, q * std::log1p(1.0 / f[i]));
      if (f[i] > 1) least_loss = std::min(least_loss, q * std::log1p(1.0 / (f[i] - 1)));
    }
    EXPECT_LE(best_gain, least_loss * (1 + 1e-12)) << "trial " << trial;
  }
}

TEST(QuantizePmf, BeatsNaiveRoundingAndIsCloseToEntropy) {
  test::SplitMix64 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    const double scale = 0.2 + 40 * rng.uniform();
    const std::vector<double> pmf = gaussian_pmf(scale, 1e-9, nullptr);
    const std::vector<uint32_t> f = freqs_of(quantize_pmf(pmf));
    // Naive: round, floor at 1, and dump the error on the largest symbol.
    std::vector<uint32_t> naive(pmf.size());
    int64_t sum = 0;
    size_t argmax = 0;
    for (size_t i = 0; i < pmf.size(); ++i) {
      naive[i] = std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(pmf[i] * kTotal)));
      sum += naive[i];
      if (pmf[i] > pmf[argmax]) argmax = i;
    }
    naive[argmax] = static_cast<uint32_t>(naive[argmax] + (int64_t{kTotal} - sum));
    double entropy = 0;
    for (double p : pmf) entropy -= p > 0 ? p * std::log2(p) : 0.0;
    const double ours = cross_entropy_bits(pmf, f);
    EXPECT_LE(ours, cross_entropy_bits(pmf, naive) + 1e-12);
    EXPECT_LE(ours - entropy, 0.002 * entropy + 0.0005) << "scale " << scale;
  }
}

TEST(QuantizePmf, EdgeCases) {
  // Two symbols, one impossible: the impossible one still gets 1.
  EXPECT_EQ(quantize_pmf({1.0, 0.0}), (std::vector<uint32_t>{0, kTotal - 1, kTotal}));
  // Uniform over all 65536 slots: every symbol exactly 1.
  const std::vector<uint32_t> all = quantize_pmf(std::vector<double>(kTotal, 3.0));
  for (uint32_t i = 0; i <= kTotal; ++i) ASSERT_EQ(all[i], i);
  // Equal probabilities that do not divide evenly: the lower indexes get the extra unit.
  const std::vector<uint32_t> three = quantize_pmf({1.0, 1.0, 1.0});
  EXPECT_EQ(freqs_of(three), (std::vector<uint32_t>{21846, 21845, 21845}));
  // Unnormalised input is fine.
  EXPECT_EQ(quantize_pmf({2.0, 6.0}), quantize_pmf({0.25, 0.75}));
}

TEST(QuantizePmf, RejectsInvalidInput) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_THROW(quantize_pmf({}), std::invalid_argument);
  EXPECT_THROW(quantize_pmf({1.0}), std::invalid_argument);
  EXPECT_THROW(quantize_pmf(std::vector<double>(kTotal + 1, 1.0)), std::invalid_argument);
  EXPECT_THROW(quantize_pmf({0.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(quantize_pmf({1.0, -0.5}), std::invalid_argument);
  EXPECT_THROW(quantize_pmf({1.0, nan}), std::invalid_argument);
  EXPECT_THROW(quantize_pmf({1.0, inf}), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Scale table and Gaussian tables

TEST(ScaleTable, CompressAiDefault) {
  const std::vector<double> s = make_scale_table();
  ASSERT_EQ(s.size(), 64u);
  EXPECT_EQ(s.front(), 0.11);
  EXPECT_EQ(s.back(), 256.0);
  const double ratio = std::exp((std::log(256.0) - std::log(0.11)) / 63);
  for (size_t i = 1; i < s.size(); ++i) {
    EXPECT_GT(s[i], s[i - 1]);
    EXPECT_NEAR(s[i] / s[i - 1], ratio, 1e-12) << i;
  }
  EXPECT_EQ(make_scale_table(2.0, 2.0, 1), std::vector<double>{2.0});
  EXPECT_THROW(make_scale_table(0.0, 1.0, 4), std::invalid_argument);
  EXPECT_THROW(make_scale_table(2.0, 1.0, 4), std::invalid_argument);
  EXPECT_THROW(make_scale_table(1.0, 2.0, 0), std::invalid_argument);
}

TEST(GaussianTables, ShapeAndSanity) {
  std::vector<double> scales;
  const CdfSet set = test::default_gaussian_set(&scales);
  ASSERT_EQ(set.size(), scales.size());
  // Q(z) = 1e-9 at z = 5.9978: R = ceil(scale * z).
  const double z = 5.997807015;
  for (size_t t = 0; t < set.size(); ++t) {
    const int i = static_cast<int>(t);
    const int32_t radius = -set.offset(i);
    EXPECT_NEAR(radius, std::ceil(scales[t] * z), 1.0) << t;
    ASSERT_EQ(set.num_symbols(i), 2 * radius + 2);
    const uint32_t* cdf = set.cdf(i);
    std::vector<uint32_t> f(set.num_symbols(i));
    for (int s = 0; s < set.num_symbols(i); ++s) {
      ASSERT_GT(cdf[s + 1], cdf[s]) << "zero-probability bin, table " << t << " symbol " << s;
      f[s] = cdf[s + 1] - cdf[s];
    }
    EXPECT_EQ(cdf[set.num_symbols(i)], kTotal);
    // Monotone: frequencies never grow away from the centre (index radius), and mirror
    // symbols differ by at most one unit (tie-breaking).
    for (int32_t k = 1; k <= radius; ++k) {
      EXPECT_LE(f[radius + k], f[radius + k - 1]) << "table " << t << " k " << k;
      EXPECT_LE(f[radius - k], f[radius - k + 1]) << "table " << t << " k " << k;
      EXPECT_LE(std::abs(int64_t{f[radius + k]} - f[radius - k]), 1);
    }
    // Tail: the escape mass is 2e-9, so the escape gets the minimum frequency.
    EXPECT_EQ(f.back(), 1u) << t;
  }
}

TEST(GaussianTables, EscapeGetsTheTailMass) {
  CdfSet set;
  const double scales[] = {1.0, 10.0, 100.0};
  add_gaussian_tables(set, {scales[0], scales[1], scales[2]}, 0.01);
  for (int i = 0; i < 3; ++i) {
    const int32_t radius = -set.offset(i);
    const double escape = 2.0 * (1.0 - normal_cdf((radius + 0.5) / scales[i]));
    const uint32_t* cdf = set.cdf(i);
    const int n = set.num_symbols(i);
    const double quantized = (cdf[n] - cdf[n - 1]) / double(kTotal);
    EXPECT_NEAR(quantized, escape, 2.0 / kTotal) << i;
    EXPECT_GT(escape, 0.0);
    EXPECT_LE(escape, 0.02);  // R = ceil(scale * z) leaves at most the asked tail mass
    if (i == 2) {
      EXPECT_GT(escape, 0.015);
    }
  }
}

TEST(GaussianTables, PmfMatchesLibmAndSumsToOne) {
  for (double scale : {0.11, 0.5, 3.3, 47.0, 256.0}) {
    int32_t offset = 0;
    const std::vector<double> pmf = gaussian_pmf(scale, 1e-9, &offset);
    double sum = 0;
    for (size_t k = 0; k + 1 < pmf.size(); ++k) {
      const double v = offset + static_cast<double>(k);
      const double expected = 0.5 * std::erfc(-(v + 0.5) / scale / std::sqrt(2.0)) -
                              0.5 * std::erfc(-(v - 0.5) / scale / std::sqrt(2.0));
      ASSERT_NEAR(pmf[k], expected, 1e-14) << scale << " " << v;
      sum += pmf[k];
    }
    sum += pmf.back();
    EXPECT_NEAR(sum, 1.0, 1e-12);
    EXPECT_NEAR(pmf.back(), 2e-9, 2e-9);
  }
}

TEST(GaussianTables, RejectsBadInput) {
  CdfSet set;
  EXPECT_THROW(add_gaussian_tables(set, {1.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(add_gaussian_tables(set, {-1.0}), std::invalid_argument);
  EXPECT_THROW(add_gaussian_tables(set, {std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
  EXPECT_THROW(add_gaussian_tables(set, {1e5}), std::invalid_argument);  // > 65536 symbols
  EXPECT_THROW(add_gaussian_tables(set, {1.0}, 0.0), std::invalid_argument);
  EXPECT_THROW(add_gaussian_tables(set, {1.0}, 0.5), std::invalid_argument);
  EXPECT_EQ(set.size(), 0u) << "a failed call must not add tables";
}

TEST(ScaleToIndex, FirstScaleAtLeastPredicted) {
  const std::vector<double> s = make_scale_table();
  EXPECT_EQ(scale_to_index(s, 0.0f), 0);
  EXPECT_EQ(scale_to_index(s, -5.0f), 0);
  EXPECT_EQ(scale_to_index(s, 0.11f), 0);  // float(0.11) < 0.11
  EXPECT_EQ(scale_to_index(s, 0.1100001f), 1);
  EXPECT_EQ(scale_to_index(s, 1e9f), 63);
  EXPECT_EQ(scale_to_index(s, std::numeric_limits<float>::infinity()), 63);
  EXPECT_EQ(scale_to_index(s, std::numeric_limits<float>::quiet_NaN()), 63);
  for (size_t i = 0; i < s.size(); ++i) {
    const float below = std::nextafter(static_cast<float>(s[i]), 0.0f);
    const int idx = scale_to_index(s, below);
    EXPECT_LE(idx, static_cast<int>(i));
    EXPECT_GE(s[idx], below);
    if (idx > 0) {
      EXPECT_LT(s[idx - 1], below);
    }
  }
  EXPECT_THROW(scale_to_index({}, 1.0f), std::invalid_argument);
}

TEST(PmfTable, FactorizedPriorTable) {
  CdfSet set;
  const int a = add_pmf_table(set, {0.1, 0.2, 0.4, 0.2, 0.1, 0.0}, -2);
  const int b = add_pmf_table(set, {1.0, 1e-3}, 7);
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(set.offset(a), -2);
  EXPECT_EQ(set.num_symbols(a), 6);
  EXPECT_EQ(set.cdf(a)[6] - set.cdf(a)[5], 1u);  // zero escape probability still codable
  EXPECT_EQ(set.offset(b), 7);
  EXPECT_THROW(add_pmf_table(set, {1.0}, 0), std::invalid_argument);
  EXPECT_THROW(add_pmf_table(set, {1.0, 1.0, 1.0}, INT32_MAX), std::invalid_argument);
}

}  // namespace
}  // namespace lucid::entropy
