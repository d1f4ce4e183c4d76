#include "rd_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "lucid/media/image_io.h"

namespace lucid::app {
namespace {

constexpr int kWidth = 960, kHeight = 640;
constexpr int kLeft = 100, kRight = 30, kTop = 60, kBottom = 80;
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

const cv::Scalar kBlack(0, 0, 0), kGrid(225, 225, 225), kWhite(255, 255, 255);
// BGR; a colour-blind-friendly cycle (Okabe-Ito) with black last.
const cv::Scalar kPalette[] = {{178, 114, 0},  {0, 94, 213},  {115, 158, 0},  {167, 121, 204},
                               {233, 180, 86}, {66, 228, 240}, {0, 159, 230}, {0, 0, 0}};

struct Axis {
  double lo, hi, step;
};

// Range padded out to multiples of a 1-2-5 step giving about 6 intervals.
Axis nice_axis(double lo, double hi) {
  if (!(hi > lo)) {
    const double pad = std::max(std::abs(lo) * 0.05, 0.5);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / 6.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

std::string tick_label(double v, double step) {
  const int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, std::abs(v) < step * 1e-6 ? 0.0 : v);
  return buf;
}

// Hershey fonts are ASCII only.
std::string ascii(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
  return out;
}

void put_text_centered(cv::Mat& img, const std::string& text, cv::Point centre, double scale,
                       int thickness) {
  int base = 0;
  const cv::Size sz = cv::getTextSize(text, kFont, scale, thickness, &base);
  cv::putText(img, text, {centre.x - sz.width / 2, centre.y + sz.height / 2}, kFont, scale,
              kBlack, thickness, cv::LINE_AA);
}

}  // namespace

void write_rd_plot_png(const std::string& path, const std::vector<RdSeries>& series,
                       const std::string& title, const std::string& y_label,
                       const std::string& x_label) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = xmin, ymax = -xmin;
  for (const RdSeries& s : series)
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
  if (!std::isfinite(xmin)) throw std::invalid_argument("write_rd_plot_png: no finite points");
  const Axis ax = nice_axis(xmin, xmax), ay = nice_axis(ymin, ymax);

  cv::Mat img(kHeight, kWidth, CV_8UC3, kWhite);
  const int x0 = kLeft, x1 = kWidth - kRight, y0 = kHeight - kBottom, y1 = kTop;
  auto to_px = [&](double x, double y) {
    return cv::Point(int(std::lround(x0 + (x - ax.lo) / (ax.hi - ax.lo) * (x1 - x0))),
                     int(std::lround(y0 - (y - ay.lo) / (ay.hi - ay.lo) * (y0 - y1))));
  };

  // Grid, ticks and tick labels.
  const double tick_scale = 0.5;
  for (int i = 0;; ++i) {
    const double v = ax.lo + i * ax.step;
    if (v > ax.hi + ax.step * 1e-6) break;
    const int px = to_px(v, ay.lo).x;
    cv::line(img, {px, y1}, {px, y0}, kGrid, 1);
    cv::line(img, {px, y0}, {px, y0 + 6}, kBlack, 1);
    put_text_centered(img, tick_label(v, ax.step), {px, y0 + 20}, tick_scale, 1);
  }
  for (int i = 0;; ++i) {
    const double v = ay.lo + i * ay.step;
    if (v > ay.hi + ay.step * 1e-6) break;
    const int py = to_px(ax.lo, v).y;
    cv::line(img, {x0, py}, {x1, py}, kGrid, 1);
    cv::line(img, {x0 - 6, py}, {x0, py}, kBlack, 1);
    const std::string label = tick_label(v, ay.step);
    int base = 0;
    const cv::Size sz = cv::getTextSize(label, kFont, tick_scale, 1, &base);
    cv::putText(img, label, {x0 - 10 - sz.width, py + sz.height / 2}, kFont, tick_scale, kBlack,
                1, cv::LINE_AA);
  }
  cv::rectangle(img, {x0, y1}, {x1, y0}, kBlack, 1);

  // Titles: x label below, y label rotated on the left, title on top.
  put_text_centered(img, ascii(title), {(x0 + x1) / 2, kTop / 2}, 0.8, 2);
  put_text_centered(img, ascii(x_label), {(x0 + x1) / 2, kHeight - 25}, 0.6, 1);
  {
    const std::string label = ascii(y_label);
    int base = 0;
    const cv::Size sz = cv::getTextSize(label, kFont, 0.6, 1, &base);
    cv::Mat strip(sz.height + base + 6, sz.width + 6, CV_8UC3, kWhite);
    cv::putText(strip, label, {3, sz.height + 3}, kFont, 0.6, kBlack, 1, cv::LINE_AA);
    cv::Mat rotated;
    cv::rotate(strip, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int cx = 22 - rotated.cols / 2, cy = (y0 + y1) / 2 - rotated.rows / 2;
    const cv::Rect dst(std::max(cx, 0), std::max(cy, 0), std::min(rotated.cols, kWidth),
                       std::min(rotated.rows, y0 - std::max(cy, 0)));
    rotated(cv::Rect(0, 0, dst.width, dst.height)).copyTo(img(dst));
  }

  // Curves, clipped to the plot area.
  cv::Mat plot = img(cv::Rect(x0, y1, x1 - x0 + 1, y0 - y1 + 1));
  const cv::Point origin(x0, y1);
  for (size_t si = 0; si < series.size(); ++si) {
    const cv::Scalar colour = kPalette[si % (sizeof(kPalette) / sizeof(kPalette[0]))];
    std::vector<std::pair<double, double>> pts;
    for (const auto& p : series[si].points)
      if (std::isfinite(p.first) && std::isfinite(p.second)) pts.push_back(p);
    std::sort(pts.begin(), pts.end());
    std::vector<cv::Point> line;
    for (const auto& [x, y] : pts) line.push_back(to_px(x, y) - origin);
    if (line.size() > 1) cv::polylines(plot, line, false, colour, 2, cv::LINE_AA);
    for (const cv::Point& p : line) cv::circle(plot, p, 4, colour, cv::FILLED, cv::LINE_AA);
  }

  // Legend, bottom right (RD curves rise to the upper right, leaving that corner empty).
  if (!series.empty()) {
    const double scale = 0.5;
    int text_w = 0, text_h = 0, base = 0;
    for (const RdSeries& s : series) {
      const cv::Size sz = cv::getTextSize(ascii(s.name), kFont, scale, 1, &base);
      text_w = std::max(text_w, sz.width);
      text_h = std::max(text_h, sz.height);
    }
    const int row = text_h + 10, box_w = text_w + 50, box_h = row * int(series.size()) + 10;
    const int bx = x1 - box_w - 10, by = y0 - box_h - 10;
    cv::rectangle(img, {bx, by}, {bx + box_w, by + box_h}, kWhite, cv::FILLED);
    cv::rectangle(img, {bx, by}, {bx + box_w, by + box_h}, kBlack, 1);
    for (size_t si = 0; si < series.size(); ++si) {
      const cv::Scalar colour = kPalette[si % (sizeof(kPalette) / sizeof(kPalette[0]))];
      const int cy = by + 5 + row * int(si) + row / 2;
      cv::line(img, {bx + 8, cy}, {bx + 36, cy}, colour, 2, cv::LINE_AA);
      cv::circle(img, {bx + 22, cy}, 4, colour, cv::FILLED, cv::LINE_AA);
      cv::putText(img, ascii(series[si].name), {bx + 42, cy + text_h / 2}, kFont, scale, kBlack,
                  1, cv::LINE_AA);
    }
  }

  // Encoded by lucid::media's PNG writer (the CLI's), not OpenCV's: one image writer.
  cv::Mat rgb;
  cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
  media::Image out;
  out.width = rgb.cols;
  out.height = rgb.rows;
  out.rgb.assign(rgb.data, rgb.data + rgb.total() * rgb.elemSize());
  // PNG whatever the path's extension says, as the function's name promises.
  media::write_file_atomic(path, media::encode_image_for_path("plot.png", out), /*overwrite=*/true);
}

}  // namespace lucid::app
