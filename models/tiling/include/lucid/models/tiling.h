// Tiling: how the pipelines cut an image or frame into tiles along one axis, and how they
// blend what overlaps. Plain C++17 (no LibTorch): the span planners and blend weights of the
// image codec, the JPEG restorer and the video restorer. Each pipeline keeps its own loop (the
// codec's threads, the JPEG restorer's row streaming, the video restorer's planes) and takes
// the two axes' spans, and the weights where tiles overlap, from here.
//
// Why three planners:
// - grid_spans (the codec's analysis and latent refinement, the video restorer): a fixed grid
//   of cores from 0, each seen with a margin of context.
// - even_spans (the codec's synthesis): even parts, so that the decoder's threads get equal
//   work, each tile on one thread.
//   The codec's tiles must be identical in the encoder and in every decoder, and independent
//   of the thread count: both planners depend only on the image (latent) size and the tile
//   option (the caller picks the number of parts, never from the thread count), and the codec
//   cuts the cores hard (each output sample from exactly one tile, nothing blended), so a
//   stream and its decoded pixels are the same on any machine with any thread count.
// - overlapping_spans (the JPEG restorer): the fewest tiles of about `tile` pixels whose
//   starts lie on a multiple of `align` (8: the JPEG 8x8 block grid, so every tile sees the
//   blocking artifacts where the whole image has them), blended with overlap_ramp.
// Why two weight schemes:
// - overlap_ramp: a linear ramp across the pixels two neighbouring JPEG tiles share, for a
//   weighted mean that changes smoothly from one tile to the next.
// - feather_ramp: the video tiles are a grid of cores with margins, and neighbouring tiles see
//   different context (and different neighbouring frames' crops), so their outputs differ near
//   the boundary: a band of half-width b around each inner boundary fades one tile out as the
//   other fades in, the weights sum to 1, and the outer part of every margin (the least
//   reliable pixels of a tile) has weight 0. At the frame's edges there is no ramp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lucid::tiling {

// One tile along one axis of [0, n): the model sees [outer_lo, outer_hi) (its context
// included, clipped to [0, n)); the tile owns [lo, hi), the part of the output it is
// responsible for, inside the outer one. For overlapping_spans a tile owns all it sees (the
// overlaps are blended).
struct Span {
  int64_t lo = 0, hi = 0;              // owned: [lo, hi)
  int64_t outer_lo = 0, outer_hi = 0;  // seen: [outer_lo, outer_hi)
  int64_t size() const { return hi - lo; }
  int64_t outer_size() const { return outer_hi - outer_lo; }
  // Where the owned part starts inside what the model sees.
  int64_t offset() const { return lo - outer_lo; }
};

// Cores [0, core), [core, 2 core), ... (the last one ends at n), each with `margin` of context
// either side, clipped to [0, n). core >= 1, margin >= 0; n >= 1.
std::vector<Span> grid_spans(int64_t n, int64_t core, int64_t margin);

// `parts` cores [n k / parts, n (k + 1) / parts), each with `margin` of context either side,
// clipped to [0, n). 1 <= parts <= n, margin >= 0.
std::vector<Span> even_spans(int64_t n, int64_t parts, int64_t margin);

// The fewest cores of at most max_core that cover n: ceil(n / max_core). n >= 0, max_core >= 1.
int64_t parts_for(int64_t n, int64_t max_core);

// The fewest tiles of about `tile` samples whose neighbours overlap by at least `overlap`,
// spread evenly, starting on multiples of `align`; together they cover [0, n), the last one
// ends at n. One tile [0, n) when n <= tile + align; else all tiles have one length (rounded up
// to `align`, plus `align`, so up to tile + 2 align - 1), the last one up to align - 1 longer.
// lo == outer_lo, hi == outer_hi. For tile and overlap multiples of align, 0 <= overlap <=
// tile / 2 and tile >= 8 align (the JPEG restorer: align 8, tile >= 64) the tiles lie in [0, n)
// and start at distinct places; outside that range a tile can pass n or two can start at one
// place. With align 8 these are the JPEG restorer's tiles.
std::vector<Span> overlapping_spans(int64_t n, int64_t tile, int64_t overlap, int64_t align);

// Blending weights over what tile i of overlapping spans sees (outer_size() of them): 1 inside,
// (k + 1) / (ov + 1), k = 0 .. ov - 1, rising across the ov samples shared with the previous
// tile and falling likewise across those shared with the next one; all > 0. Where at most two
// tiles overlap the weights of a position sum to 1; with align 8, tile >= 4 overlap + 16 (the
// JPEG restorer's overlap of 32 with tiles of 256 and more) no three tiles overlap. Closer tiles
// (a large overlap for the tile, small n) can share samples three ways, where the sum exceeds
// 1: callers divide by the sum of weights.
std::vector<float> overlap_ramp(const std::vector<Span>& spans, size_t i);

// Feathered weights of `count` consecutive positions first, first + 1, ... of one axis: 1
// inside [lo, hi), and linear ramps of half-width b centred on lo and on hi (weight 0 from
// b outside the boundary on, measured at sample centres), none at a boundary that is the
// frame's edge (lo_edge, hi_edge). b = 0: a hard cut at lo and hi. Computed in double.
std::vector<float> feather_ramp(int64_t first, size_t count, int64_t lo, bool lo_edge, int64_t hi,
                                bool hi_edge, int64_t b);
// The same over what span s of a grid on [0, n) sees: edges where lo == 0 and hi >= n. Over
// grid_spans(n, core, margin) with b <= margin and 2 b <= core the weights of every position
// sum to 1.
std::vector<float> feather_ramp(const Span& s, int64_t n, int64_t b);

}  // namespace lucid::tiling
