#include "rd.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

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

std::string compressai_json(const std::string& name, const std::string& description,
                            const std::vector<RdPoint>& pts) {
  std::ostringstream o;
  o.precision(6);
  auto arr = [&](const char* key, auto get, bool last) {
    o << "    \"" << key << "\": [";
    for (size_t i = 0; i < pts.size(); ++i) o << (i ? ", " : "") << get(pts[i]);
    o << "]" << (last ? "\n" : ",\n");
  };
  o << "{\n  \"name\": \"" << json_escape(name) << "\",\n  \"description\": \""
    << json_escape(description)
    << "\",\n  \"results\": {\n";
  arr("bpp", [](const RdPoint& p) { return p.bpp; }, false);
  arr("psnr-rgb", [](const RdPoint& p) { return p.psnr; }, false);
  arr("ms-ssim-rgb", [](const RdPoint& p) { return p.ms_ssim; }, false);
  arr("encoding_time", [](const RdPoint& p) { return p.enc_s; }, false);
  arr("decoding_time", [](const RdPoint& p) { return p.dec_s; }, true);
  o << "  }\n}\n";
  return o.str();
}

}  // namespace lucid::cli
