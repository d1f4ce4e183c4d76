#include "lucid/models/tiling.h"

#include <algorithm>

namespace lucid::tiling {

namespace {

// [lo, hi) with `margin` of context either side, clipped to [0, n).
Span with_margin(int64_t n, int64_t lo, int64_t hi, int64_t margin) {
  Span s;
  s.lo = lo;
  s.hi = hi;
  s.outer_lo = std::max<int64_t>(0, lo - margin);
  s.outer_hi = std::min(n, hi + margin);
  return s;
}

}  // namespace

std::vector<Span> grid_spans(int64_t n, int64_t core, int64_t margin) {
  std::vector<Span> v;
  for (int64_t lo = 0; lo < n; lo += core)
    v.push_back(with_margin(n, lo, std::min(n, lo + core), margin));
  return v;
}

std::vector<Span> even_spans(int64_t n, int64_t parts, int64_t margin) {
  std::vector<Span> v;
  for (int64_t k = 0; k < parts; ++k)
    v.push_back(with_margin(n, n * k / parts, n * (k + 1) / parts, margin));
  return v;
}

int64_t parts_for(int64_t n, int64_t max_core) { return (n + max_core - 1) / max_core; }

std::vector<Span> overlapping_spans(int64_t n, int64_t tile, int64_t overlap, int64_t align) {
  auto span = [](int64_t start, int64_t len) {
    Span s;
    s.lo = s.outer_lo = start;
    s.hi = s.outer_hi = start + len;
    return s;
  };
  if (n <= tile + align) return {span(0, n)};
  const int64_t k = (n - overlap + (tile - overlap) - 1) / (tile - overlap);
  const int64_t len = ((n + (k - 1) * overlap + k - 1) / k + align - 1) / align * align + align;
  std::vector<Span> s;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t start =
        i + 1 == k ? (n - len) / align * align : (i * (n - len) / (k - 1)) / align * align;
    s.push_back(span(start, i + 1 == k ? n - start : len));
  }
  return s;
}

std::vector<float> overlap_ramp(const std::vector<Span>& spans, size_t i) {
  const Span& s = spans[i];
  const int64_t len = s.outer_size();
  std::vector<float> w(static_cast<size_t>(len), 1.0f);
  if (i > 0) {
    const int64_t ov = spans[i - 1].outer_hi - s.outer_lo;
    for (int64_t k = 0; k < ov && k < len; ++k)
      w[k] = std::min(w[k], static_cast<float>(k + 1) / static_cast<float>(ov + 1));
  }
  if (i + 1 < spans.size()) {
    const int64_t ov = s.outer_hi - spans[i + 1].outer_lo;
    for (int64_t k = 0; k < ov && k < len; ++k)
      w[len - 1 - k] =
          std::min(w[len - 1 - k], static_cast<float>(k + 1) / static_cast<float>(ov + 1));
  }
  return w;
}

std::vector<float> feather_ramp(int64_t first, size_t count, int64_t lo, bool lo_edge, int64_t hi,
                                bool hi_edge, int64_t b) {
  std::vector<float> w(count);
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t pos = first + static_cast<int64_t>(i);
    const double c = pos + 0.5;
    double v = 1;
    if (!lo_edge)
      v *= b > 0 ? std::clamp((c - (lo - b)) / (2.0 * b), 0.0, 1.0) : (pos >= lo ? 1 : 0);
    if (!hi_edge)
      v *= b > 0 ? std::clamp(((hi + b) - c) / (2.0 * b), 0.0, 1.0) : (pos < hi ? 1 : 0);
    w[i] = static_cast<float>(v);
  }
  return w;
}

std::vector<float> feather_ramp(const Span& s, int64_t n, int64_t b) {
  return feather_ramp(s.outer_lo, static_cast<size_t>(s.outer_size()), s.lo, s.lo == 0, s.hi,
                      s.hi >= n, b);
}

}  // namespace lucid::tiling
