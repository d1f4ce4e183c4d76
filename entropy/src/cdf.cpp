// Deterministic CDF construction. Everything here uses IEEE double +, -, *, / (correctly rounded
// on every conforming platform; the library is built with -ffp-contract=off so no FMA changes a
// result) plus exact operations (floor, frexp, ldexp); exp, log and erfc are our own, because
// libm implementations differ in the last bits and one differing CDF entry breaks a stream.
#include "lucid/entropy/cdf.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace lucid::entropy {
namespace {

constexpr uint32_t kProbScale = 1u << kCdfPrecision;
constexpr double kInvSqrtPi = 0.56418958354775628695;  // 1 / sqrt(pi)
constexpr double kInvSqrt2 = 0.70710678118654752440;   // 1 / sqrt(2)
constexpr double kInvLn2 = 1.44269504088896340736;     // 1 / ln(2)
// ln(2) split so that k * kLn2High is exact for |k| < 2^11 (the low 32 bits of kLn2High are 0).
constexpr double kLn2High = 6.93147180369123816490e-01;
constexpr double kLn2Low = 1.90821492927058770002e-10;

// exp(x) = 2^k * exp(r), |r| <= ln(2) / 2, exp(r) by its Taylor series to degree 17
// (remainder < 1e-20 relative).
double portable_exp(double x) {
  if (std::isnan(x)) return x;
  if (x > 709.0) return std::numeric_limits<double>::infinity();
  if (x < -745.0) return 0.0;
  const double k = std::floor(x * kInvLn2 + 0.5);
  const double r = (x - k * kLn2High) - k * kLn2Low;
  double p = 1.0;
  for (int n = 17; n >= 1; --n) p = 1.0 + p * r / n;  // Horner on sum r^n / n!
  return std::ldexp(p, static_cast<int>(k));
}

// 2 * atanh(u) = log((1 + u) / (1 - u)) for |u| <= 1/3, by its series (terms shrink >= 9x).
double two_atanh(double u) {
  const double u2 = u * u;
  double term = u;
  double sum = 0.0;
  for (int n = 1; n < 80; n += 2) {
    const double add = term / n;
    if (sum + add == sum) break;
    sum += add;
    term *= u2;
  }
  return 2.0 * sum;
}

// log(x) for finite x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh((m - 1) / (m + 1)).
double portable_log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // m in [0.5, 1)
  if (m < kInvSqrt2) {
    m *= 2.0;
    --e;
  }
  return e * kLn2High + (two_atanh((m - 1.0) / (m + 1.0)) + e * kLn2Low);
}

// log(1 + 1 / f) for f >= 1: (1 + 1/f) = (1 + u) / (1 - u) with u = 1 / (2f + 1) <= 1/3.
double log1p_reciprocal(uint32_t f) { return two_atanh(1.0 / (2.0 * f + 1.0)); }

// e^{-t^2 / 2}. t is split into a 26-bit head and a tail (Veltkamp) so that t^2 / 2 is
// head^2 / 2 (exact) plus a small correction: rounding t * t directly would cost a relative
// error of t^2 * 2^-53 in the result, 1e-13 at t = 37.
double exp_minus_half_square(double t) {
  const double split = t * 134217729.0;  // 2^27 + 1
  const double head = split - (split - t);
  const double tail = t - head;
  return portable_exp(-0.5 * head * head) * portable_exp(-0.5 * (2.0 * head + tail) * tail);
}

// Upper tail Q(t) = 1 - Phi(t) = erfc(t / sqrt(2)) / 2 for t >= 0, accurate relative to its
// (small) value.
double upper_tail(double t) {
  const double x = t * kInvSqrt2;
  if (x > 40.0) return 0.0;  // erfc(40) < 1e-697
  const double gauss = exp_minus_half_square(t);  // = e^{-x^2}
  if (x < 1.5) {
    // erf(x) = 2x/sqrt(pi) e^{-x^2} sum_n (2x^2)^n / (1 * 3 * ... * (2n + 1)): positive terms,
    // and 1 - erf(x) loses at most a few digits for x < 1.5 (erfc(1.5) = 0.034).
    const double x2 = x * x;
    double term = 1.0;
    double sum = 1.0;
    for (int n = 1; n < 100; ++n) {
      term *= 2.0 * x2 / (2 * n + 1);
      if (sum + term == sum) break;
      sum += term;
    }
    return 0.5 * (1.0 - 2.0 * x * kInvSqrtPi * gauss * sum);
  }
  // Continued fraction erfc(x) = e^{-x^2} / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / ...))),
  // evaluated bottom up at a fixed depth (converged to double precision for x >= 1.5).
  double f = x;
  for (int n = 100; n >= 1; --n) f = x + (0.5 * n) / f;
  return 0.5 * gauss * kInvSqrtPi / f;
}

// z with Q(z) = tail_mass, by bisection (Q is decreasing); deterministic to the last bit.
double upper_tail_quantile(double tail_mass) {
  double lo = 0.0;
  double hi = 40.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (upper_tail(mid) > tail_mass) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return hi;
}

void check_tail_mass(double tail_mass) {
  if (!(tail_mass > 0.0 && tail_mass < 0.5)) {
    throw std::invalid_argument("gaussian tables: tail_mass must be in (0, 0.5), got " +
                                std::to_string(tail_mass));
  }
}

// Gaussian pmf for a scale given the precomputed quantile z.
std::vector<double> gaussian_pmf_with_quantile(double scale, double z, int32_t* offset) {
  if (!(scale > 0.0) || !std::isfinite(scale)) {
    throw std::invalid_argument("gaussian tables: scale must be finite and > 0, got " +
                                std::to_string(scale));
  }
  const double radius_real = std::ceil(scale * z);
  // 2R + 1 regular symbols + escape must fit the 65536 slots.
  if (!(radius_real <= (kProbScale - 2) / 2)) {
    throw std::invalid_argument("gaussian tables: scale " + std::to_string(scale) +
                                " needs more than 65536 symbols");
  }
  const int32_t radius = static_cast<int32_t>(radius_real);
  // tails[k] = Q((k + 1/2) / scale): the mass above k + 1/2.
  std::vector<double> tails(static_cast<size_t>(radius) + 1);
  for (int32_t k = 0; k <= radius; ++k) tails[k] = upper_tail((k + 0.5) / scale);

  std::vector<double> pmf(2 * static_cast<size_t>(radius) + 2);
  pmf[radius] = 1.0 - 2.0 * tails[0];
  for (int32_t k = 1; k <= radius; ++k) {
    const double mass = tails[k - 1] - tails[k];
    pmf[radius + k] = mass;
    pmf[radius - k] = mass;
  }
  pmf.back() = 2.0 * tails[radius];
  if (offset != nullptr) *offset = -radius;
  return pmf;
}

}  // namespace

double normal_cdf(double x) {
  if (std::isnan(x)) return x;
  return x >= 0.0 ? 1.0 - upper_tail(x) : upper_tail(-x);
}

std::vector<uint32_t> quantize_pmf(const std::vector<double>& probs) {
  const size_t n = probs.size();
  if (n < 2 || n > kProbScale) {
    throw std::invalid_argument("quantize_pmf: needs 2..65536 probabilities, got " +
                                std::to_string(n));
  }
  double total = 0.0;
  for (double p : probs) {
    if (!(p >= 0.0) || !std::isfinite(p)) {
      throw std::invalid_argument("quantize_pmf: probabilities must be finite and >= 0");
    }
    total += p;
  }
  if (!(total > 0.0) || !std::isfinite(total)) {
    throw std::invalid_argument("quantize_pmf: probabilities must have a finite, positive sum");
  }

  // Start from rounding (at least 1), then fix the sum and improve by exchanges. Minimising
  // -sum q_i log f_i is separable and convex in the integers f_i, so moving one unit from the
  // symbol that loses least to the one that gains most, while that strictly helps, reaches the
  // optimum. Gains/losses are fixed functions of (i, f_i), so this terminates deterministically.
  std::vector<double> q(n);
  for (size_t i = 0; i < n; ++i) q[i] = probs[i] / total;
  // Starting point close to the optimum (so few exchanges follow): symbols too rare for one
  // unit get exactly 1, the others share the remaining budget in proportion. Finding the rare
  // set is a fixed point: shrinking the budget can push more symbols below one unit.
  std::vector<uint8_t> at_minimum(n, 0);
  double budget = kProbScale;
  double shared_mass = 1.0;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (!at_minimum[i] && q[i] * budget < shared_mass) {
        at_minimum[i] = 1;
        changed = true;
      }
    }
    size_t minimum_count = 0;
    shared_mass = 0.0;
    for (size_t i = 0; i < n; ++i) {
      if (at_minimum[i]) {
        ++minimum_count;
      } else {
        shared_mass += q[i];
      }
    }
    budget = static_cast<double>(kProbScale - minimum_count);
    if (!(shared_mass > 0.0)) break;
  }
  std::vector<uint32_t> freq(n);
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double scaled = at_minimum[i] ? 0.0 : q[i] * budget / shared_mass;
    freq[i] = scaled < 1.0 ? 1u : static_cast<uint32_t>(std::floor(scaled + 0.5));
    sum += freq[i];
  }
  // gain of f -> f + 1 is q log(1 + 1/f); loss of f -> f - 1 is q log(1 + 1/(f - 1)).
  auto gain = [&](size_t i) { return q[i] * log1p_reciprocal(freq[i]); };
  auto loss = [&](size_t i) {
    return freq[i] > 1 ? q[i] * log1p_reciprocal(freq[i] - 1)
                       : std::numeric_limits<double>::infinity();
  };
  // Ordered sets give the best candidate with deterministic tie-breaking by index:
  // increments keyed by (-gain, i), decrements by (loss, i).
  using Key = std::pair<double, uint32_t>;
  std::set<Key> increments;
  std::set<Key> decrements;
  for (uint32_t i = 0; i < n; ++i) {
    increments.emplace(-gain(i), i);
    decrements.emplace(loss(i), i);
  }
  auto change = [&](uint32_t i, int delta) {
    increments.erase(Key(-gain(i), i));
    decrements.erase(Key(loss(i), i));
    freq[i] = static_cast<uint32_t>(static_cast<int64_t>(freq[i]) + delta);
    increments.emplace(-gain(i), i);
    decrements.emplace(loss(i), i);
  };
  while (sum < kProbScale) {
    change(increments.begin()->second, +1);
    ++sum;
  }
  while (sum > kProbScale) {  // possible: at most n - 1 symbols sit at 1, so some f > 1
    change(decrements.begin()->second, -1);
    --sum;
  }
  for (;;) {
    const Key best_gain = *increments.begin();
    const Key least_loss = *decrements.begin();
    if (!(-best_gain.first > least_loss.first)) break;  // also never the same symbol
    change(best_gain.second, +1);
    change(least_loss.second, -1);
  }

  std::vector<uint32_t> cdf(n + 1);
  cdf[0] = 0;
  for (size_t i = 0; i < n; ++i) cdf[i + 1] = cdf[i] + freq[i];
  return cdf;
}

int add_pmf_table(CdfSet& set, const std::vector<double>& pmf_with_escape_last,
                  int32_t offset) {
  return set.add(quantize_pmf(pmf_with_escape_last), offset);
}

std::vector<double> make_scale_table(double min_scale, double max_scale, int num) {
  if (!(min_scale > 0.0) || !std::isfinite(max_scale) || !(max_scale >= min_scale) || num < 1) {
    throw std::invalid_argument("make_scale_table: needs 0 < min <= max (finite) and num >= 1");
  }
  std::vector<double> scales(static_cast<size_t>(num));
  const double log_min = portable_log(min_scale);
  const double log_max = portable_log(max_scale);
  for (int i = 0; i < num; ++i) {
    const double t = num == 1 ? 0.0 : static_cast<double>(i) / (num - 1);
    scales[i] = portable_exp(log_min + (log_max - log_min) * t);
  }
  scales.front() = min_scale;  // the ends exactly as asked, not exp(log(.)) of them
  if (num > 1) scales.back() = max_scale;
  return scales;
}

std::vector<double> gaussian_pmf(double scale, double tail_mass, int32_t* offset) {
  check_tail_mass(tail_mass);
  return gaussian_pmf_with_quantile(scale, upper_tail_quantile(tail_mass), offset);
}

void add_gaussian_tables(CdfSet& set, const std::vector<double>& scales, double tail_mass) {
  check_tail_mass(tail_mass);
  const double z = upper_tail_quantile(tail_mass);
  // Build all before adding any, so a bad scale leaves `set` unchanged.
  std::vector<std::pair<std::vector<uint32_t>, int32_t>> tables;
  tables.reserve(scales.size());
  for (double scale : scales) {
    int32_t offset = 0;
    const std::vector<double> pmf = gaussian_pmf_with_quantile(scale, z, &offset);
    tables.emplace_back(quantize_pmf(pmf), offset);
  }
  for (const auto& [cdf, offset] : tables) set.add(cdf, offset);
}

int scale_to_index(const std::vector<double>& scales, float scale) {
  if (scales.empty()) throw std::invalid_argument("scale_to_index: empty scale table");
  const double s = scale;
  // First i with scales[i] >= s, written so a NaN (all comparisons false) gives the last index.
  const auto it = std::partition_point(scales.begin(), scales.end() - 1,
                                       [s](double table_scale) { return !(table_scale >= s); });
  return static_cast<int>(it - scales.begin());
}

}  // namespace lucid::entropy
