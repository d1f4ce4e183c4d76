#include "metrics.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace lucid::app {
namespace {

constexpr double kPeak = 255.0;
constexpr std::array<double, 5> kMsSsimWeights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

void check_image(const Image& img) {
  if (img.width <= 0 || img.height <= 0 ||
      img.rgb.size() != size_t(img.width) * size_t(img.height) * 3)
    throw std::invalid_argument("metrics: empty image or inconsistent pixel buffer");
}

void check_pair(const Image& a, const Image& b) {
  check_image(a);
  check_image(b);
  if (a.width != b.width || a.height != b.height)
    throw std::invalid_argument("metrics: images differ in size (" + std::to_string(a.width) +
                                "x" + std::to_string(a.height) + " vs " +
                                std::to_string(b.width) + "x" + std::to_string(b.height) + ")");
}

// One channel as doubles, row-major.
struct Plane {
  int w = 0, h = 0;
  std::vector<double> v;
  double at(int x, int y) const { return v[size_t(y) * w + x]; }
};

Plane channel_plane(const Image& img, int c) {
  Plane p;
  p.w = img.width;
  p.h = img.height;
  p.v.resize(size_t(p.w) * p.h);
  for (size_t i = 0; i < p.v.size(); ++i) p.v[i] = img.rgb[3 * i + c];
  return p;
}

Plane downsample2(const Plane& p) {
  Plane d;
  d.w = p.w / 2;
  d.h = p.h / 2;
  d.v.resize(size_t(d.w) * d.h);
  for (int y = 0; y < d.h; ++y)
    for (int x = 0; x < d.w; ++x)
      d.v[size_t(y) * d.w + x] = 0.25 * (p.at(2 * x, 2 * y) + p.at(2 * x + 1, 2 * y) +
                                         p.at(2 * x, 2 * y + 1) + p.at(2 * x + 1, 2 * y + 1));
  return d;
}

std::vector<double> gaussian_window(int size, double sigma) {
  std::vector<double> g(static_cast<size_t>(size));
  const double centre = (size - 1) / 2.0;
  double sum = 0.0;
  for (int i = 0; i < size; ++i) {
    const double d = i - centre;
    g[size_t(i)] = std::exp(-d * d / (2.0 * sigma * sigma));
    sum += g[size_t(i)];
  }
  for (double& x : g) x /= sum;
  return g;
}

// Separable "valid" filtering of a plane with the 1-D window g (horizontal then vertical).
Plane filter_valid(const Plane& p, const std::vector<double>& g) {
  const int k = int(g.size());
  Plane tmp;
  tmp.w = p.w - k + 1;
  tmp.h = p.h;
  tmp.v.resize(size_t(tmp.w) * tmp.h);
  for (int y = 0; y < tmp.h; ++y)
    for (int x = 0; x < tmp.w; ++x) {
      double s = 0.0;
      for (int i = 0; i < k; ++i) s += g[size_t(i)] * p.at(x + i, y);
      tmp.v[size_t(y) * tmp.w + x] = s;
    }
  Plane out;
  out.w = tmp.w;
  out.h = p.h - k + 1;
  out.v.resize(size_t(out.w) * out.h);
  for (int y = 0; y < out.h; ++y)
    for (int x = 0; x < out.w; ++x) {
      double s = 0.0;
      for (int i = 0; i < k; ++i) s += g[size_t(i)] * tmp.at(x, y + i);
      out.v[size_t(y) * out.w + x] = s;
    }
  return out;
}

struct SsimTerms {
  double ssim;  // mean of l * cs
  double cs;    // mean of the contrast-structure term
};

int window_size_for(int w, int h) {
  int k = std::min({11, w, h});
  if (k % 2 == 0) --k;
  return std::max(k, 1);
}

// SSIM's stabilising constants follow the dynamic range L = peak: C1 = (0.01 L)^2, C2 = (0.03 L)^2.
SsimTerms ssim_terms(const Plane& x, const Plane& y, double peak = kPeak) {
  const double kC1 = (0.01 * peak) * (0.01 * peak), kC2 = (0.03 * peak) * (0.03 * peak);
  const auto g = gaussian_window(window_size_for(x.w, x.h), 1.5);
  Plane xx = x, yy = y, xy = x;
  for (size_t i = 0; i < x.v.size(); ++i) {
    xx.v[i] = x.v[i] * x.v[i];
    yy.v[i] = y.v[i] * y.v[i];
    xy.v[i] = x.v[i] * y.v[i];
  }
  const Plane mx = filter_valid(x, g), my = filter_valid(y, g);
  const Plane exx = filter_valid(xx, g), eyy = filter_valid(yy, g), exy = filter_valid(xy, g);
  double ssim_sum = 0.0, cs_sum = 0.0;
  for (size_t i = 0; i < mx.v.size(); ++i) {
    const double mux = mx.v[i], muy = my.v[i];
    const double vx = exx.v[i] - mux * mux, vy = eyy.v[i] - muy * muy;
    const double cov = exy.v[i] - mux * muy;
    const double cs = (2.0 * cov + kC2) / (vx + vy + kC2);
    const double l = (2.0 * mux * muy + kC1) / (mux * mux + muy * muy + kC1);
    ssim_sum += l * cs;
    cs_sum += cs;
  }
  const double n = double(mx.v.size());
  return {ssim_sum / n, cs_sum / n};
}

bool identical(const Image& a, const Image& b) { return a.rgb == b.rgb; }

void check_plane(const SamplePlane& p) {
  if (!p.data || p.width <= 0 || p.height <= 0 || p.bit_depth < 1 || p.bit_depth > 16 ||
      p.stride < static_cast<ptrdiff_t>(p.width) * (p.bit_depth > 8 ? 2 : 1))
    throw std::invalid_argument("metrics: empty plane, bad bit depth or stride shorter than a row");
}

void check_plane_pair(const SamplePlane& a, const SamplePlane& b) {
  check_plane(a);
  check_plane(b);
  if (a.width != b.width || a.height != b.height || a.bit_depth != b.bit_depth)
    throw std::invalid_argument("metrics: planes differ in size or bit depth (" + std::to_string(a.width) + "x" +
                                std::to_string(a.height) + " " + std::to_string(a.bit_depth) + "-bit vs " +
                                std::to_string(b.width) + "x" + std::to_string(b.height) + " " +
                                std::to_string(b.bit_depth) + "-bit)");
}

double sample_at(const SamplePlane& p, int x, int y) {
  const uint8_t* row = p.data + static_cast<ptrdiff_t>(y) * p.stride;
  if (p.bit_depth <= 8) return row[x];
  uint16_t v;
  std::memcpy(&v, row + 2 * static_cast<ptrdiff_t>(x), 2);
  return v;
}

Plane to_plane(const SamplePlane& s) {
  Plane p;
  p.w = s.width;
  p.h = s.height;
  p.v.resize(size_t(p.w) * p.h);
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) p.v[size_t(y) * p.w + x] = sample_at(s, x, y);
  return p;
}

bool identical(const SamplePlane& a, const SamplePlane& b) {
  const size_t row = size_t(a.width) * (a.bit_depth > 8 ? 2 : 1);
  for (int y = 0; y < a.height; ++y)
    if (std::memcmp(a.data + static_cast<ptrdiff_t>(y) * a.stride, b.data + static_cast<ptrdiff_t>(y) * b.stride, row) != 0)
      return false;
  return true;
}

}  // namespace

double mse(const Image& a, const Image& b) {
  check_pair(a, b);
  double se = 0.0;
  for (size_t i = 0; i < a.rgb.size(); ++i) {
    const double d = double(a.rgb[i]) - double(b.rgb[i]);
    se += d * d;
  }
  return se / double(a.rgb.size());
}

double psnr(const Image& a, const Image& b) {
  const double m = mse(a, b);
  if (m == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(kPeak * kPeak / m);
}

double ssim(const Image& a, const Image& b) {
  check_pair(a, b);
  if (identical(a, b)) return 1.0;  // exact, free of rounding in the variance terms
  double sum = 0.0;
  for (int c = 0; c < 3; ++c) sum += ssim_terms(channel_plane(a, c), channel_plane(b, c)).ssim;
  return sum / 3.0;
}

double ms_ssim(const Image& a, const Image& b) {
  check_pair(a, b);
  if (identical(a, b)) return 1.0;
  int scales = 1;
  while (scales < int(kMsSsimWeights.size()) && (std::min(a.width, a.height) >> scales) >= 11)
    ++scales;
  double weight_sum = 0.0;
  for (int s = 0; s < scales; ++s) weight_sum += kMsSsimWeights[size_t(s)];

  double total = 0.0;
  for (int c = 0; c < 3; ++c) {
    Plane x = channel_plane(a, c), y = channel_plane(b, c);
    double value = 1.0;
    for (int s = 0; s < scales; ++s) {
      const SsimTerms t = ssim_terms(x, y);
      const double w = kMsSsimWeights[size_t(s)] / weight_sum;
      const bool last = s == scales - 1;
      value *= std::pow(std::max(last ? t.ssim : t.cs, 0.0), w);
      if (!last) {
        x = downsample2(x);
        y = downsample2(y);
      }
    }
    total += value;
  }
  return total / 3.0;
}

double blocking_effect_factor(const Image& img, int channel) {
  check_image(img);
  if (channel < 0 || channel > 2) throw std::invalid_argument("blocking_effect_factor: channel");
  constexpr int kBlock = 8;
  const int w = img.width, h = img.height;
  auto px = [&](int x, int y) { return double(img.rgb[(size_t(y) * w + x) * 3 + channel]); };
  double boundary = 0.0, inner = 0.0;
  uint64_t n_boundary = 0, n_inner = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x + 1 < w; ++x) {  // horizontal neighbours (x, x+1)
      const double d = px(x, y) - px(x + 1, y);
      if ((x + 1) % kBlock == 0) { boundary += d * d; ++n_boundary; }
      else { inner += d * d; ++n_inner; }
    }
  for (int y = 0; y + 1 < h; ++y)
    for (int x = 0; x < w; ++x) {  // vertical neighbours (y, y+1)
      const double d = px(x, y) - px(x, y + 1);
      if ((y + 1) % kBlock == 0) { boundary += d * d; ++n_boundary; }
      else { inner += d * d; ++n_inner; }
    }
  const int min_side = std::min(w, h);
  if (n_boundary == 0 || n_inner == 0 || min_side < 2) return 0.0;
  const double d_b = boundary / double(n_boundary);
  const double d_bc = inner / double(n_inner);
  if (d_b <= d_bc) return 0.0;
  const double eta = std::log2(double(kBlock)) / std::log2(double(min_side));
  return eta * (d_b - d_bc);
}

double psnr_b(const Image& ref, const Image& test) {
  check_pair(ref, test);
  double mse_b = 0.0;
  const size_t n = size_t(ref.width) * ref.height;
  for (int c = 0; c < 3; ++c) {
    double se = 0.0;
    for (size_t i = 0; i < n; ++i) {
      const double d = double(ref.rgb[3 * i + c]) - double(test.rgb[3 * i + c]);
      se += d * d;
    }
    mse_b += se / double(n) + blocking_effect_factor(test, c);
  }
  mse_b /= 3.0;
  if (mse_b == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(kPeak * kPeak / mse_b);
}

double plane_peak(const SamplePlane& p) { return std::ldexp(1.0, p.bit_depth) - 1.0; }

double plane_mse(const SamplePlane& a, const SamplePlane& b) {
  check_plane_pair(a, b);
  double se = 0.0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) {
      const double d = sample_at(a, x, y) - sample_at(b, x, y);
      se += d * d;
    }
  return se / (double(a.width) * a.height);
}

double plane_psnr(const SamplePlane& a, const SamplePlane& b) {
  const double m = plane_mse(a, b);
  if (m == 0.0) return std::numeric_limits<double>::infinity();
  const double peak = plane_peak(a);
  return 10.0 * std::log10(peak * peak / m);
}

double plane_ssim(const SamplePlane& a, const SamplePlane& b) {
  check_plane_pair(a, b);
  if (identical(a, b)) return 1.0;
  return ssim_terms(to_plane(a), to_plane(b), plane_peak(a)).ssim;
}

}  // namespace lucid::app
