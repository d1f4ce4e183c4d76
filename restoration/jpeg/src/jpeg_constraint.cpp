#include "lucid/restoration/jpeg_constraint.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lucid::jpeg {

namespace {

// The orthonormal 8-point DCT-II basis, which is exactly JPEG's forward DCT:
// F(u, v) = 1/4 C(u) C(v) sum f(x, y) cos((2x+1)u pi/16) cos((2y+1)v pi/16).
// forward[u][x] is the basis, inverse[x][u] its transpose (the inverse of an orthonormal map).
struct Basis {
  float forward[8][8], inverse[8][8];
  Basis() {
    const double pi = std::acos(-1.0);
    for (int u = 0; u < 8; ++u)
      for (int x = 0; x < 8; ++x)
        inverse[x][u] = forward[u][x] = static_cast<float>(
            (u == 0 ? std::sqrt(0.125) : 0.5) * std::cos((2 * x + 1) * u * pi / 16));
  }
};
const Basis& basis() {
  static const Basis b;
  return b;
}

// out = m * in * m^T for 8x8 row-major blocks: the separable 2-D transform with matrix m.
void separable(const float (&m)[8][8], const float* in, float* out) {
  float t[64];
  for (int r = 0; r < 8; ++r)  // rows: t = in * m^T
    for (int j = 0; j < 8; ++j) {
      float s = 0;
      for (int k = 0; k < 8; ++k) s += in[r * 8 + k] * m[j][k];
      t[r * 8 + j] = s;
    }
  for (int i = 0; i < 8; ++i)  // columns: out = m * t
    for (int j = 0; j < 8; ++j) {
      float s = 0;
      for (int k = 0; k < 8; ++k) s += m[i][k] * t[k * 8 + j];
      out[i * 8 + j] = s;
    }
}

uint8_t to_u8(float v) {
  return static_cast<uint8_t>(std::lround(std::min(255.0f, std::max(0.0f, v))));
}

// Projects one full-resolution plane (W x H floats, sample values 0..255) onto the constraint
// set of one component sampled every fx x fy pixels.
void project_plane(std::vector<float>& plane, int W, int H, int fx, int fy,
                   const JpegCoefficients::Component& comp, float keep, ProjectionStats* st) {
  const int ch = (H + fy - 1) / fy;  // component height in samples
  const int bw = comp.blocks_w, bh = comp.blocks_h;
  const size_t lw = static_cast<size_t>(bw) * 8;
  // The encoder's view of this component: full-resolution rows and columns replicated past the
  // image edge, box-averaged over the sampling footprint, and the last sample row repeated down
  // to the block grid (libjpeg's prep/downsample controllers).
  std::vector<float> low(lw * static_cast<size_t>(bh) * 8), delta(low.size(), 0.0f);
  const float inv = 1.0f / static_cast<float>(fx * fy);
  for (int cy = 0; cy < bh * 8; ++cy) {
    const int sy = std::min(cy, ch - 1);
    for (size_t cx = 0; cx < lw; ++cx) {
      float s = 0;
      for (int b = 0; b < fy; ++b) {
        const float* row = plane.data() + static_cast<size_t>(std::min(sy * fy + b, H - 1)) * W;
        for (int a = 0; a < fx; ++a)
          s += row[std::min(static_cast<int>(cx) * fx + a, W - 1)];
      }
      low[static_cast<size_t>(cy) * lw + cx] = s * inv;
    }
  }
  float blk[64], F[64], D[64], d[64];
  for (int by = 0; by < bh; ++by)
    for (int bx = 0; bx < bw; ++bx) {
      const size_t origin = static_cast<size_t>(by) * 8 * lw + static_cast<size_t>(bx) * 8;
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) blk[y * 8 + x] = low[origin + y * lw + x] - 128.0f;
      separable(basis().forward, blk, F);
      const int16_t* k = comp.coef.data() + (static_cast<size_t>(by) * bw + bx) * 64;
      bool any = false;
      for (int i = 0; i < 64; ++i) {
        const float q = static_cast<float>(comp.quant[static_cast<size_t>(i)]);
        const float m = k[i] * q, lo = m - 0.5f * q, hi = m + 0.5f * q;
        const float c = std::min(hi, std::max(lo, F[i]));
        if (c != F[i] && st) ++st->clipped;
        D[i] = m + keep * (c - m) - F[i];
        any = any || D[i] != 0.0f;
      }
      if (st) {
        ++st->blocks;
        st->coefficients += 64;
      }
      if (!any) continue;
      separable(basis().inverse, D, d);
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) delta[origin + y * lw + x] = d[y * 8 + x];
    }
  // Spread each sample's correction over its footprint: the footprint's average moves by exactly
  // the correction, and no smaller full-resolution change does that.
  for (int y = 0; y < H; ++y) {
    const float* drow = delta.data() + static_cast<size_t>(y / fy) * lw;
    float* row = plane.data() + static_cast<size_t>(y) * W;
    for (int x = 0; x < W; ++x) row[x] += drow[x / fx];
  }
}

}  // namespace

bool project_to_constraints(const JpegCoefficients& jc, uint8_t* rgb, int width, int height,
                            size_t stride, ProjectionStats* stats, float keep) {
  using Color = JpegCoefficients::Color;
  if (!rgb || width != jc.width || height != jc.height || width < 1 || height < 1 ||
      stride < static_cast<size_t>(width) * 3)
    return false;
  const size_t nc = jc.color == Color::kGray ? 1 : 3;
  if (jc.components.size() != nc || jc.max_h < 1 || jc.max_v < 1) return false;
  for (const auto& c : jc.components) {
    if (c.h < 1 || c.v < 1 || jc.max_h % c.h || jc.max_v % c.v) return false;
    const int fx = jc.max_h / c.h, fy = jc.max_v / c.v;
    // The block grid must cover the component exactly as libjpeg lays it out.
    if (c.blocks_w != ((width + fx - 1) / fx + 7) / 8 ||
        c.blocks_h != ((height + fy - 1) / fy + 7) / 8 ||
        c.coef.size() != static_cast<size_t>(c.blocks_w) * c.blocks_h * 64)
      return false;
  }
  const int W = width, H = height;
  const size_t n = static_cast<size_t>(W) * H;
  std::vector<std::vector<float>> planes(nc, std::vector<float>(n));
  for (int y = 0; y < H; ++y) {
    const uint8_t* p = rgb + static_cast<size_t>(y) * stride;
    for (int x = 0; x < W; ++x, p += 3) {
      const size_t i = static_cast<size_t>(y) * W + x;
      const float r = p[0], g = p[1], b = p[2];
      switch (jc.color) {
        case Color::kGray: planes[0][i] = 0.299f * r + 0.587f * g + 0.114f * b; break;
        case Color::kRGB: planes[0][i] = r; planes[1][i] = g; planes[2][i] = b; break;
        case Color::kYCbCr:  // JFIF (ITU-R BT.601 full range), as libjpeg converts
          planes[0][i] = 0.299f * r + 0.587f * g + 0.114f * b;
          planes[1][i] = -0.168735892f * r - 0.331264108f * g + 0.5f * b + 128.0f;
          planes[2][i] = 0.5f * r - 0.418687589f * g - 0.081312411f * b + 128.0f;
          break;
      }
    }
  }
  if (stats) *stats = ProjectionStats{};
  for (size_t c = 0; c < nc; ++c) {
    const auto& comp = jc.components[c];
    project_plane(planes[c], W, H, jc.max_h / comp.h, jc.max_v / comp.v, comp,
                  std::clamp(keep, 0.0f, 1.0f), stats);
  }
  for (int y = 0; y < H; ++y) {
    uint8_t* p = rgb + static_cast<size_t>(y) * stride;
    for (int x = 0; x < W; ++x, p += 3) {
      const size_t i = static_cast<size_t>(y) * W + x;
      switch (jc.color) {
        case Color::kGray: p[0] = p[1] = p[2] = to_u8(planes[0][i]); break;
        case Color::kRGB:
          p[0] = to_u8(planes[0][i]); p[1] = to_u8(planes[1][i]); p[2] = to_u8(planes[2][i]);
          break;
        case Color::kYCbCr: {
          const float Y = planes[0][i], cb = planes[1][i] - 128.0f, cr = planes[2][i] - 128.0f;
          p[0] = to_u8(Y + 1.402f * cr);
          p[1] = to_u8(Y - 0.344136286f * cb - 0.714136286f * cr);
          p[2] = to_u8(Y + 1.772f * cb);
          break;
        }
      }
    }
  }
  return true;
}

}  // namespace lucid::jpeg
