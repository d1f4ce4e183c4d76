#include "rd.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "cli.h"

namespace lucid::cli {

namespace {
// log-rate at a PSNR, linear between the curve's points (sorted by PSNR).
double log_rate_at(const std::vector<RdPoint>& c, double psnr) {
  for (size_t i = 1; i < c.size(); ++i) {
    if (psnr <= c[i].psnr || i + 1 == c.size()) {
      const double t = (psnr - c[i - 1].psnr) / std::max(1e-12, c[i].psnr - c[i - 1].psnr);
      return std::log(c[i - 1].bpp) + t * (std::log(c[i].bpp) - std::log(c[i - 1].bpp));
    }
  }
  return std::log(c[0].bpp);
}

// The PSNR the curve reaches at a given rate (linear in log-rate).
double psnr_at_rate(const std::vector<RdPoint>& c, double bpp) {
  std::vector<RdPoint> s = c;
  std::sort(s.begin(), s.end(), [](auto& a, auto& b) { return a.bpp < b.bpp; });
  const double lr = std::log(bpp);
  for (size_t i = 1; i < s.size(); ++i) {
    if (lr <= std::log(s[i].bpp) || i + 1 == s.size()) {
      const double a = std::log(s[i - 1].bpp), b = std::log(s[i].bpp);
      const double t = (lr - a) / std::max(1e-12, b - a);
      return s[i - 1].psnr + t * (s[i].psnr - s[i - 1].psnr);
    }
  }
  return s[0].psnr;
}
}  // namespace

double bd_rate(std::vector<RdPoint> anchor, std::vector<RdPoint> test, double min_bpp,
               double max_bpp) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (anchor.size() < 2 || test.size() < 2) return nan;
  auto by_psnr = [](auto& a, auto& b) { return a.psnr < b.psnr; };
  std::sort(anchor.begin(), anchor.end(), by_psnr);
  std::sort(test.begin(), test.end(), by_psnr);
  double lo = std::max(anchor.front().psnr, test.front().psnr);
  double hi = std::min(anchor.back().psnr, test.back().psnr);
  if (min_bpp > 0) lo = std::max(lo, psnr_at_rate(anchor, min_bpp));
  if (max_bpp > 0) hi = std::min(hi, psnr_at_rate(anchor, max_bpp));
  if (!(hi > lo)) return nan;
  const int n = 1000;
  double sum = 0;
  for (int i = 0; i <= n; ++i) {
    const double p = lo + (hi - lo) * i / n;
    const double w = (i == 0 || i == n) ? 0.5 : 1.0;  // trapezoid rule
    sum += w * (log_rate_at(test, p) - log_rate_at(anchor, p));
  }
  return (std::exp(sum / n) - 1.0) * 100.0;
}

namespace {
// Least-squares cubic log(bpp) = c0 + c1 x + c2 x^2 + c3 x^3 with x = (psnr - center) / scale
// (centred and scaled so the normal equations stay well conditioned).
struct Cubic {
  double c[4] = {0, 0, 0, 0};
  double center = 0, scale = 1;
  // Integral of the cubic over psnr in [lo, hi].
  double integral(double lo, double hi) const {
    auto prim = [&](double p) {
      const double x = (p - center) / scale;
      return scale * x * (c[0] + x * (c[1] / 2 + x * (c[2] / 3 + x * c[3] / 4)));
    };
    return prim(hi) - prim(lo);
  }
};

Cubic fit_cubic(const std::vector<RdPoint>& pts) {
  Cubic f;
  double lo = pts[0].psnr, hi = pts[0].psnr;
  for (const auto& p : pts) {
    f.center += p.psnr / pts.size();
    lo = std::min(lo, p.psnr);
    hi = std::max(hi, p.psnr);
  }
  f.scale = std::max(1e-9, (hi - lo) / 2);
  double m[4][5] = {};  // normal equations, augmented
  for (const auto& p : pts) {
    const double x = (p.psnr - f.center) / f.scale, y = std::log(p.bpp);
    const double pw[4] = {1, x, x * x, x * x * x};
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) m[r][c] += pw[r] * pw[c];
      m[r][4] += pw[r] * y;
    }
  }
  for (int col = 0; col < 4; ++col) {  // Gaussian elimination, partial pivoting
    int piv = col;
    for (int r = col + 1; r < 4; ++r)
      if (std::fabs(m[r][col]) > std::fabs(m[piv][col])) piv = r;
    for (int c = 0; c < 5; ++c) std::swap(m[col][c], m[piv][c]);
    for (int r = 0; r < 4; ++r) {
      if (r == col || m[col][col] == 0) continue;
      const double k = m[r][col] / m[col][col];
      for (int c = col; c < 5; ++c) m[r][c] -= k * m[col][c];
    }
  }
  for (int i = 0; i < 4; ++i) f.c[i] = m[i][i] != 0 ? m[i][4] / m[i][i] : 0;
  return f;
}
}  // namespace

double bd_rate_cubic(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (anchor.size() < 4 || test.size() < 4) return nan;
  auto lo_hi = [](const std::vector<RdPoint>& c) {
    double lo = c[0].psnr, hi = c[0].psnr;
    for (const auto& p : c) lo = std::min(lo, p.psnr), hi = std::max(hi, p.psnr);
    return std::make_pair(lo, hi);
  };
  const auto [alo, ahi] = lo_hi(anchor);
  const auto [tlo, thi] = lo_hi(test);
  const double lo = std::max(alo, tlo), hi = std::min(ahi, thi);
  if (!(hi > lo)) return nan;
  const double d =
      (fit_cubic(test).integral(lo, hi) - fit_cubic(anchor).integral(lo, hi)) / (hi - lo);
  return (std::exp(d) - 1.0) * 100.0;
}

std::string compressai_json(const std::string& name, const std::string& description,
                            const std::vector<RdPoint>& pts) {
  auto arr = [&](double RdPoint::*m) {
    Json a = Json::array();
    for (const auto& p : pts) a.push_back(p.*m);
    return a;
  };
  Json results;
  results["bpp"] = arr(&RdPoint::bpp);
  results["psnr-rgb"] = arr(&RdPoint::psnr);
  results["ms-ssim-rgb"] = arr(&RdPoint::ms_ssim);
  results["encoding_time"] = arr(&RdPoint::enc_s);
  results["decoding_time"] = arr(&RdPoint::dec_s);
  Json j;
  j["name"] = name;
  j["description"] = description;
  j["results"] = std::move(results);
  return json_text(j, 2) + "\n";
}

}  // namespace lucid::cli
