// The pipelines' tile planners and blend weights (lucid::tiling, models/tiling): partitions,
// containment, coverage, alignment, weights summing to 1, edge cases, and equality with the
// formulas each pipeline used before they moved here (the streams and pixels depend on them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "lucid/models/tiling.h"

using lucid::tiling::Span;
namespace tiling = lucid::tiling;

namespace {

// ---- The formulas as the pipelines had them (frozen copies: outputs must stay bit-identical).

// restoration/jpeg: tile_spans (starts on multiples of 8) and axis_weights.
struct OldJpegSpan {
  int64_t start, len;
};
std::vector<OldJpegSpan> old_jpeg_spans(int64_t n, int64_t tile, int64_t overlap) {
  if (n <= tile + 8) return {{0, n}};
  const int64_t k = (n - overlap + (tile - overlap) - 1) / (tile - overlap);
  const int64_t len = ((n + (k - 1) * overlap + k - 1) / k + 7) / 8 * 8 + 8;
  std::vector<OldJpegSpan> s;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t start = i + 1 == k ? (n - len) / 8 * 8 : (i * (n - len) / (k - 1)) / 8 * 8;
    s.push_back({start, i + 1 == k ? n - start : len});
  }
  return s;
}
std::vector<float> old_jpeg_weights(const std::vector<OldJpegSpan>& spans, size_t i) {
  const OldJpegSpan& s = spans[i];
  std::vector<float> w(static_cast<size_t>(s.len), 1.0f);
  if (i > 0) {
    const int64_t ov = spans[i - 1].start + spans[i - 1].len - s.start;
    for (int64_t k = 0; k < ov && k < s.len; ++k)
      w[k] = std::min(w[k], static_cast<float>(k + 1) / static_cast<float>(ov + 1));
  }
  if (i + 1 < spans.size()) {
    const int64_t ov = s.start + s.len - spans[i + 1].start;
    for (int64_t k = 0; k < ov && k < s.len; ++k)
      w[s.len - 1 - k] =
          std::min(w[s.len - 1 - k], static_cast<float>(k + 1) / static_cast<float>(ov + 1));
  }
  return w;
}

// restoration/video: Blend::ramp.
void old_video_ramp(std::vector<float>& w, int o, int lo, bool lo_edge, int hi, bool hi_edge,
                    int b) {
  for (size_t i = 0; i < w.size(); ++i) {
    const int pos = o + static_cast<int>(i);
    const double c = pos + 0.5;
    double v = 1;
    if (!lo_edge)
      v *= b > 0 ? std::clamp((c - (lo - b)) / (2.0 * b), 0.0, 1.0) : (pos >= lo ? 1 : 0);
    if (!hi_edge)
      v *= b > 0 ? std::clamp(((hi + b) - c) / (2.0 * b), 0.0, 1.0) : (pos < hi ? 1 : 0);
    w[i] = static_cast<float>(v);
  }
}

// ---- Property checks.

// Owned parts partition [0, n) in order; what is seen contains what is owned, within [0, n),
// and is the owned part widened by `margin` each side, clipped.
void expect_partition_with_margin(const std::vector<Span>& v, int64_t n, int64_t margin) {
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.front().lo, 0);
  EXPECT_EQ(v.back().hi, n);
  for (size_t i = 0; i < v.size(); ++i) {
    const Span& s = v[i];
    EXPECT_LT(s.lo, s.hi) << "span " << i << " of n=" << n;
    if (i > 0) {
      EXPECT_EQ(s.lo, v[i - 1].hi) << "span " << i << " of n=" << n;
    }
    EXPECT_GE(s.outer_lo, 0);
    EXPECT_LE(s.outer_hi, n);
    EXPECT_LE(s.outer_lo, s.lo);
    EXPECT_GE(s.outer_hi, s.hi);
    EXPECT_EQ(s.outer_lo, std::max<int64_t>(0, s.lo - margin));
    EXPECT_EQ(s.outer_hi, std::min(n, s.hi + margin));
    EXPECT_EQ(s.size(), s.hi - s.lo);
    EXPECT_EQ(s.outer_size(), s.outer_hi - s.outer_lo);
    EXPECT_EQ(s.offset(), s.lo - s.outer_lo);
  }
}

}  // namespace

TEST(Tiling, GridSpansPartitionWithMargins) {
  for (int64_t core : {1, 3, 8, 64, 100, 128})
    for (int64_t margin : {0, 1, 4, 32, 64})
      for (int64_t n = 1; n <= 400; ++n) {
        const auto v = tiling::grid_spans(n, core, margin);
        expect_partition_with_margin(v, n, margin);
        ASSERT_EQ(static_cast<int64_t>(v.size()), tiling::parts_for(n, core));
        for (size_t i = 0; i < v.size(); ++i) {
          EXPECT_EQ(v[i].lo, static_cast<int64_t>(i) * core);  // a fixed grid from 0
          if (i + 1 < v.size()) {
            EXPECT_EQ(v[i].size(), core);
          } else {
            EXPECT_LE(v[i].size(), core);
          }
        }
        if (::testing::Test::HasFailure()) return;
      }
}

TEST(Tiling, EvenSpansPartitionWithMargins) {
  for (int64_t margin : {0, 4, 16})
    for (int64_t n = 1; n <= 300; ++n)
      for (int64_t parts = 1; parts <= std::min<int64_t>(n, 9); ++parts) {
        const auto v = tiling::even_spans(n, parts, margin);
        ASSERT_EQ(static_cast<int64_t>(v.size()), parts);
        expect_partition_with_margin(v, n, margin);
        int64_t lo = n, hi = 0;
        for (const Span& s : v) lo = std::min(lo, s.size()), hi = std::max(hi, s.size());
        EXPECT_LE(hi - lo, 1) << "n=" << n << " parts=" << parts;  // even parts
        for (int64_t k = 0; k < parts; ++k) EXPECT_EQ(v[k].lo, n * k / parts);
        if (::testing::Test::HasFailure()) return;
      }
}

TEST(Tiling, PartsFor) {
  EXPECT_EQ(tiling::parts_for(0, 8), 0);
  EXPECT_EQ(tiling::parts_for(1, 8), 1);
  EXPECT_EQ(tiling::parts_for(8, 8), 1);
  EXPECT_EQ(tiling::parts_for(9, 8), 2);
  EXPECT_EQ(tiling::parts_for(56, 56), 1);
  EXPECT_EQ(tiling::parts_for(57, 56), 2);
  for (int64_t n = 0; n <= 200; ++n)
    for (int64_t m = 1; m <= 20; ++m) {
      const int64_t p = tiling::parts_for(n, m);
      EXPECT_GE(p * m, n);
      if (p > 0) { EXPECT_LT((p - 1) * m, n); }
    }
}

// The planner's range (tiling.h): tile and overlap multiples of align, overlap in
// [0, tile / 2], tile >= 8 align; the JPEG restorer's tile >= 64 and overlap are multiples of 8.
TEST(Tiling, OverlappingSpansCoverAlignAndOverlap) {
  for (int64_t align : {1, 8, 16})
    for (int64_t tile : {64, 80, 128, 144, 256, 528, 1024})
      for (int64_t overlap : {int64_t{0}, int64_t{8}, int64_t{16}, int64_t{32}, tile / 2 - 8,
                              tile / 2})
        for (int64_t n = 1; n <= 3000; n += (n < 600 ? 1 : 7)) {
          if (tile < 8 * align || tile % align || overlap % align) continue;
          const auto v = tiling::overlapping_spans(n, tile, overlap, align);
          ASSERT_FALSE(v.empty());
          EXPECT_EQ(v.front().lo, 0);
          EXPECT_EQ(v.back().hi, n);  // the last one ends at the border
          if (n <= tile + align) { EXPECT_EQ(v.size(), 1u); }
          for (size_t i = 0; i < v.size(); ++i) {
            const Span& s = v[i];
            // A tile owns all it sees, inside [0, n).
            EXPECT_EQ(s.lo, s.outer_lo);
            EXPECT_EQ(s.hi, s.outer_hi);
            EXPECT_GE(s.lo, 0);
            EXPECT_LE(s.hi, n);
            EXPECT_EQ(s.lo % align, 0) << "n=" << n << " tile=" << tile << " span " << i;
            const int64_t longest = tile + 2 * align - 1 + (i + 1 == v.size() ? align - 1 : 0);
            if (v.size() > 1) { EXPECT_LE(s.size(), longest); }
            if (i + 1 < v.size()) {
              EXPECT_EQ(s.size(), v[0].size());  // one length, but for the last one
              EXPECT_LT(s.lo, v[i + 1].lo)  // distinct starts
                  << "n=" << n << " tile=" << tile << " overlap=" << overlap << " align=" << align;
              // Neighbours overlap by at least `overlap`: no gap, so [0, n) is covered.
              EXPECT_GE(s.hi - v[i + 1].lo, overlap)
                  << "n=" << n << " tile=" << tile << " overlap=" << overlap << " span " << i;
            }
          }
          if (::testing::Test::HasFailure()) return;
        }
}

TEST(Tiling, OverlappingSpansAreTheJpegRestorersTiles) {
  // The restorer's options: tile = max(64, t / 8 * 8), overlap = min(tile / 2, o / 8 * 8).
  for (int64_t t : {64, 100, 256, 300, 1024})
    for (int64_t o : {0, 7, 8, 32, 33, 200}) {
      const int64_t tile = std::max<int64_t>(64, t / 8 * 8);
      const int64_t overlap = std::min<int64_t>(tile / 2, o / 8 * 8);
      for (int64_t n = 1; n <= 2600; n += (n < 800 ? 1 : 3)) {
        const auto v = tiling::overlapping_spans(n, tile, overlap, 8);
        const auto old = old_jpeg_spans(n, tile, overlap);
        ASSERT_EQ(v.size(), old.size()) << "n=" << n << " tile=" << tile;
        for (size_t i = 0; i < v.size(); ++i) {
          ASSERT_EQ(v[i].outer_lo, old[i].start) << "n=" << n << " tile=" << tile;
          ASSERT_EQ(v[i].outer_size(), old[i].len) << "n=" << n << " tile=" << tile;
          const auto w = tiling::overlap_ramp(v, i), ow = old_jpeg_weights(old, i);
          ASSERT_EQ(w.size(), ow.size());
          for (size_t k = 0; k < w.size(); ++k)  // bit for bit
            ASSERT_EQ(w[k], ow[k]) << "n=" << n << " tile=" << tile << " span " << i << " @" << k;
        }
      }
    }
}

// Weighted means over the tiles: every weight > 0; where at most two tiles overlap (always for
// tile >= 4 overlap + 16, e.g. the restorer's default overlap of 32 with tiles of 256 or more)
// the weights of every position sum to 1.
TEST(Tiling, OverlapRampWeightsSumToOne) {
  int three_way = 0;
  for (int64_t tile : {64, 72, 128, 256, 520, 1024})
    for (int64_t overlap : {int64_t{0}, int64_t{8}, int64_t{16}, int64_t{32}, tile / 2}) {
      const bool never_three = tile >= 4 * overlap + 16;
      for (int64_t n = 1; n <= 2200; n += (n < 400 ? 1 : 3)) {
        const auto v = tiling::overlapping_spans(n, tile, overlap, 8);
        std::vector<double> sum(static_cast<size_t>(n), 0.0);
        std::vector<int> cover(static_cast<size_t>(n), 0);
        for (size_t i = 0; i < v.size(); ++i) {
          const auto w = tiling::overlap_ramp(v, i);
          ASSERT_EQ(static_cast<int64_t>(w.size()), v[i].outer_size());
          for (size_t k = 0; k < w.size(); ++k) {
            EXPECT_GT(w[k], 0.0f);
            EXPECT_LE(w[k], 1.0f);
            sum[static_cast<size_t>(v[i].outer_lo) + k] += w[k];
            ++cover[static_cast<size_t>(v[i].outer_lo) + k];
          }
        }
        for (int64_t p = 0; p < n; ++p) {
          ASSERT_GE(cover[p], 1);
          if (never_three) {
            ASSERT_LE(cover[p], 2) << "n=" << n << " tile=" << tile << " overlap=" << overlap;
          }
          if (cover[p] <= 2) {
            ASSERT_NEAR(sum[p], 1.0, 1e-6)
                << "n=" << n << " tile=" << tile << " overlap=" << overlap << " @" << p;
          } else {
            ++three_way;
          }
        }
      }
    }
  EXPECT_GT(three_way, 0);  // close tiles do share samples three ways (see tiling.h)
}

// The video restorer's blend: a grid of cores with margins, feathered with half-width b <= the
// margin and 2 b <= the core (b = 0: a hard cut).
TEST(Tiling, FeatherOverGridWeightsSumToOne) {
  for (int64_t core : {4, 16, 64, 100})
    for (int64_t margin : {0, 2, 8, 32})
      for (int64_t b : {0, 1, 2, 8, 16, 32}) {
        if (b > margin || 2 * b > core) continue;
        for (int64_t n = 1; n <= 330; ++n) {
          const auto v = tiling::grid_spans(n, core, margin);
          std::vector<double> sum(static_cast<size_t>(n), 0.0);
          for (const Span& s : v) {
            const auto w = tiling::feather_ramp(s, n, b);
            ASSERT_EQ(static_cast<int64_t>(w.size()), s.outer_size());
            for (size_t k = 0; k < w.size(); ++k) {
              const int64_t pos = s.outer_lo + static_cast<int64_t>(k);
              EXPECT_GE(w[k], 0.0f);
              EXPECT_LE(w[k], 1.0f);
              if (b == 0) { EXPECT_TRUE(w[k] == 0.0f || w[k] == 1.0f); }
              // Owned samples further than b from an inner boundary have weight 1, seen ones
              // further than b outside it weight 0.
              if (pos >= s.lo + b && pos < s.hi - b) { EXPECT_EQ(w[k], 1.0f); }
              if (pos < s.lo - b || pos >= s.hi + b) { EXPECT_EQ(w[k], 0.0f); }
              sum[static_cast<size_t>(pos)] += w[k];
            }
          }
          for (int64_t p = 0; p < n; ++p)
            ASSERT_NEAR(sum[p], 1.0, 1e-6) << "n=" << n << " core=" << core << " margin=" << margin
                                           << " b=" << b << " @" << p;
        }
      }
}

TEST(Tiling, FeatherIsTheVideoRestorersRamp) {
  // The pipeline's arguments, per plane: first = outer >> s, lo = inner >> s, hi = inner end
  // rounded up, edges of the luma tile, b >> s.
  for (int shift : {0, 1})
    for (int tile : {16, 96, 100, 128})
      for (int ov : {0, 2, 32})
        for (int n : {1, 15, 64, 100, 129, 240, 258, 320}) {
          const int b = std::min(ov / 2 / 2 * 2, tile / 2 / 2 * 2);
          for (const Span& s : tiling::grid_spans(n, tile, ov)) {
            const int ox = static_cast<int>(s.outer_lo) >> shift;
            const int count = (static_cast<int>(s.outer_size()) + (1 << shift) - 1) >> shift;
            const int lo = static_cast<int>(s.lo) >> shift;
            const int hi = (static_cast<int>(s.hi) + (1 << shift) - 1) >> shift;
            const bool lo_edge = s.lo == 0, hi_edge = s.hi >= n;
            std::vector<float> old(static_cast<size_t>(count));
            old_video_ramp(old, ox, lo, lo_edge, hi, hi_edge, b >> shift);
            const auto w = tiling::feather_ramp(ox, static_cast<size_t>(count), lo, lo_edge, hi,
                                                hi_edge, b >> shift);
            ASSERT_EQ(w.size(), old.size());
            for (size_t k = 0; k < w.size(); ++k) ASSERT_EQ(w[k], old[k]);  // bit for bit
            if (shift == 0) {
              const auto ws = tiling::feather_ramp(s, n, b);
              ASSERT_EQ(ws, w);
            }
          }
        }
}

TEST(Tiling, EdgeCases) {
  // n smaller than a tile: one tile, seeing everything.
  for (const auto& v : {tiling::grid_spans(100, 128, 16), tiling::even_spans(100, 1, 4),
                        tiling::overlapping_spans(100, 128, 32, 8)}) {
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].lo, 0);
    EXPECT_EQ(v[0].hi, 100);
    EXPECT_EQ(v[0].outer_lo, 0);
    EXPECT_EQ(v[0].outer_hi, 100);
  }
  {
    const auto w = tiling::feather_ramp(tiling::grid_spans(100, 128, 16)[0], 100, 8);
    EXPECT_EQ(w, std::vector<float>(100, 1.0f));  // frame edges: no ramp
    EXPECT_EQ(tiling::overlap_ramp(tiling::overlapping_spans(100, 128, 32, 8), 0),
              std::vector<float>(100, 1.0f));
  }
  // n a multiple of the tile: full tiles only.
  {
    const auto v = tiling::grid_spans(256, 128, 16);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].lo, 0);
    EXPECT_EQ(v[0].hi, 128);
    EXPECT_EQ(v[0].outer_lo, 0);
    EXPECT_EQ(v[0].outer_hi, 144);
    EXPECT_EQ(v[1].lo, 128);
    EXPECT_EQ(v[1].hi, 256);
    EXPECT_EQ(v[1].outer_lo, 112);
    EXPECT_EQ(v[1].outer_hi, 256);
    EXPECT_EQ(v[1].offset(), 16);
    const auto e = tiling::even_spans(256, 2, 4);
    EXPECT_EQ(e[0].hi, 128);
    EXPECT_EQ(e[0].outer_hi, 132);
    EXPECT_EQ(e[1].outer_lo, 124);
    // 512 = 2 * 256, overlap 32: three tiles of 200, starts 0, 152, 312.
    const auto o = tiling::overlapping_spans(512, 256, 32, 8);
    ASSERT_EQ(o.size(), 3u);
    EXPECT_EQ(o[0].lo, 0);
    EXPECT_EQ(o[0].hi, 200);
    EXPECT_EQ(o[1].lo, 152);
    EXPECT_EQ(o[1].hi, 352);
    EXPECT_EQ(o[2].lo, 312);
    EXPECT_EQ(o[2].hi, 512);
    // Without overlap (the restorer's CaVE pass): still one tile up to tile + align.
    EXPECT_EQ(tiling::overlapping_spans(264, 256, 0, 8).size(), 1u);
    EXPECT_EQ(tiling::overlapping_spans(265, 256, 0, 8).size(), 2u);
  }
  // n = tile + 1: a grid gets a one-sample last core; overlapping spans still one tile.
  {
    const auto v = tiling::grid_spans(129, 128, 16);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[1].lo, 128);
    EXPECT_EQ(v[1].hi, 129);
    EXPECT_EQ(v[1].outer_lo, 112);
    EXPECT_EQ(v[1].outer_hi, 129);
    EXPECT_EQ(v[0].outer_hi, 129);
    const auto o = tiling::overlapping_spans(129, 128, 32, 8);
    ASSERT_EQ(o.size(), 1u);
    EXPECT_EQ(o[0].hi, 129);
    const auto o2 = tiling::overlapping_spans(130, 128, 32, 1);  // n = tile + align + 1
    ASSERT_EQ(o2.size(), 2u);
    EXPECT_EQ(o2.back().hi, 130);
    EXPECT_GE(o2[0].hi - o2[1].lo, 32);
    // The feathered pair around the boundary at 128 still sums to 1.
    const auto w0 = tiling::feather_ramp(v[0], 129, 8), w1 = tiling::feather_ramp(v[1], 129, 8);
    for (int64_t p = v[1].outer_lo; p < 129; ++p)
      EXPECT_NEAR(w0[p - v[0].outer_lo] + w1[p - v[1].outer_lo], 1.0f, 1e-6f) << p;
  }
  // A hard cut (b = 0): each sample owned by exactly one tile.
  {
    const auto v = tiling::grid_spans(300, 100, 32);
    for (const Span& s : v) {
      const auto w = tiling::feather_ramp(s, 300, 0);
      for (size_t k = 0; k < w.size(); ++k) {
        const int64_t pos = s.outer_lo + static_cast<int64_t>(k);
        EXPECT_EQ(w[k], pos >= s.lo && pos < s.hi ? 1.0f : 0.0f);
      }
    }
  }
}
