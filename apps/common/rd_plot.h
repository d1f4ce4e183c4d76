// Rate-distortion plots (bpp on x, a quality metric on y) rendered with OpenCV to PNG, for the
// benchmark tools. No plotting library needed; the look is deliberately plain.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lucid::app {

struct RdSeries {
  std::string name;                             // legend text
  std::vector<std::pair<double, double>> points;  // (bpp, metric); drawn in bpp order
};

// Draws every series as a polyline with markers on shared axes (ranges from the data, "nice"
// 1-2-5 ticks, light grid), a legend and a title, and writes a 960x640 PNG to `path` atomically,
// replacing an existing file. Non-finite points are skipped. Throws ImageError on write failure
// and std::invalid_argument when there is no finite point at all.
void write_rd_plot_png(const std::string& path, const std::vector<RdSeries>& series,
                       const std::string& title, const std::string& y_label = "PSNR-RGB (dB)",
                       const std::string& x_label = "bits per pixel");

}  // namespace lucid::app
