// Rate-distortion helpers for the benchmarks: BD-rate and CompressAI-schema JSON.
#pragma once

#include <string>
#include <vector>

namespace lucid::cli {

struct RdPoint {
  double bpp = 0, psnr = 0, ms_ssim = 0, enc_s = 0, dec_s = 0;
};

// Bjontegaard delta rate (percent) of `test` against `anchor` over the PSNR interval where
// both curves exist, restricted to the anchor's rates in [min_bpp, max_bpp] (0 = no limit).
// Log-rate is interpolated piecewise-linearly in PSNR (robust with few points). Returns NaN
// when the curves do not overlap.
double bd_rate(std::vector<RdPoint> anchor, std::vector<RdPoint> test, double min_bpp,
               double max_bpp);

// The classic Bjontegaard delta rate (VCEG-M33), as ../shared/tools/bdrate.py computes it: a
// least-squares cubic of log-rate in PSNR per curve, integrated over the whole PSNR overlap.
// Needs 4 points per curve; NaN otherwise or without overlap.
double bd_rate_cubic(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test);

// {"name": ..., "description": ..., "results": {"bpp": [...], "psnr-rgb": [...],
//  "ms-ssim-rgb": [...], "encoding_time": [...], "decoding_time": [...]}}
std::string compressai_json(const std::string& name, const std::string& description,
                            const std::vector<RdPoint>& points);

}  // namespace lucid::cli
