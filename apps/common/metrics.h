// Full-reference image quality metrics on RGB8 images, as reported by the evaluation tools.
// Every function requires two images of the same non-zero size with consistent buffers and throws
// std::invalid_argument otherwise. All arithmetic is in double precision; results are
// deterministic.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lucid/media/image_io.h"

namespace lucid::app {

// The metrics take lucid::media's images.
using media::Image;

// Mean squared error over all R, G and B samples.
double mse(const Image& a, const Image& b);

// PSNR over all RGB samples with peak 255: 10 * log10(255^2 / MSE).
// Identical images return +INFINITY (std::numeric_limits<double>::infinity()); callers that
// write JSON or average over a set must cap or skip it themselves.
double psnr(const Image& a, const Image& b);

// SSIM (Wang, Bovik, Sheikh, Simoncelli 2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
// K2 = 0.03, L = 255, computed over "valid" window positions only (no padding, no automatic
// downsampling), on R, G and B separately and averaged. Images smaller than 11 pixels on a side
// use the largest odd window that fits (same sigma). Identical images give exactly 1.
double ssim(const Image& a, const Image& b);

// MS-SSIM (Wang, Simoncelli, Bovik 2003): 5 scales with weights
// {0.0448, 0.2856, 0.3001, 0.2363, 0.1333}, 2x2 average-pool downsampling (an odd last row or
// column is dropped), contrast-structure terms at scales 1..M-1 and full SSIM at scale M;
// negative terms are clamped to 0 before the power. Per channel, then averaged over R, G, B.
// Small images: only scales whose shorter side is still >= 11 pixels are used (176 pixels for
// all 5), with the first M weights renormalized to sum to 1; below 11 pixels it is SSIM with a
// smaller window.
double ms_ssim(const Image& a, const Image& b);

// Blocking effect factor (Yim & Bovik 2011) of one channel (0 R, 1 G, 2 B) of `img` for 8x8
// blocks: eta * (D_B - D_Bc) when the mean squared difference across block boundaries D_B
// exceeds that inside blocks D_Bc, with eta = log2(8) / log2(min(width, height)); else 0.
double blocking_effect_factor(const Image& img, int channel);

// PSNR-B (Yim & Bovik 2011): per channel MSE-B = MSE + BEF(test), averaged over R, G, B, then
// 10 * log10(255^2 / MSE-B). The BEF is measured on `test` only, so argument order matters.
// Returns +INFINITY when the average MSE-B is 0.
double psnr_b(const Image& ref, const Image& test);

// ---- One plane of samples at its native bit depth (video luma: 8 or 10 bit) ----------------
// 1 byte per sample up to 8 bits, 2 (native endian, value in the low bits) above; rows `stride`
// bytes apart.
struct SamplePlane {
  const uint8_t* data = nullptr;
  ptrdiff_t stride = 0;
  int width = 0, height = 0;
  int bit_depth = 8;  // 1..16
};

// The peak sample value 2^bit_depth - 1: 255 at 8 bits, 1023 at 10.
double plane_peak(const SamplePlane& p);
// Mean squared error over all samples, on the native scale. The planes must agree in size and
// bit depth (std::invalid_argument otherwise, as for a NULL plane or a stride shorter than a row).
double plane_mse(const SamplePlane& a, const SamplePlane& b);
// 10 * log10(peak^2 / MSE) with the native peak (so a 10-bit plane is not rescaled to 8 bits);
// +INFINITY for identical planes.
double plane_psnr(const SamplePlane& a, const SamplePlane& b);
// SSIM as ssim() above (11x11 Gaussian window, sigma 1.5, valid positions, K1 0.01, K2 0.03)
// on one plane, with the dynamic range L = the native peak. Identical planes give exactly 1.
double plane_ssim(const SamplePlane& a, const SamplePlane& b);

}  // namespace lucid::app
