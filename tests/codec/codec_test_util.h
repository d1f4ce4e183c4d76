#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lucid/lucid.h"

namespace lucid::test {

inline std::string tiny_model() { return std::string(LUCID_SOURCE_DIR) + "/tests/data/fat-tiny.lucidw"; }
inline std::string default_model() {
  return std::string(LUCID_SOURCE_DIR) + "/models/weights/fat-small.lucidw";
}

// A smooth synthetic photo-like image (gradients + a few edges + mild noise).
inline std::vector<uint8_t> synthetic_image(uint32_t w, uint32_t h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-6, 6);
  std::vector<uint8_t> img(size_t{w} * h * 3);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        int v = static_cast<int>(60 + 120.0 * x / (w + 1) + 40.0 * y / (h + 1) + 25 * c);
        if ((x / 13 + y / 17 + seed) % 5 == 0) v += 50;
        v += noise(rng);
        img[(size_t{y} * w + x) * 3 + c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
      }
  return img;
}

struct ContextPtr {
  lucid_context* ctx = nullptr;
  explicit ContextPtr(const std::string& path) {
    if (lucid_context_create(path.c_str(), LUCID_MODEL_CODEC, &ctx) != LUCID_OK) ctx = nullptr;
  }
  ~ContextPtr() { lucid_context_destroy(ctx); }
  lucid_context* get() const { return ctx; }
};

inline std::vector<uint8_t> encode(lucid_context* ctx, const std::vector<uint8_t>& img,
                                   uint32_t w, uint32_t h, float q) {
  uint8_t* out = nullptr;
  size_t size = 0;
  if (lucid_encode_image(ctx, img.data(), w, h, size_t{w} * 3, q, &out, &size) != LUCID_OK)
    return {};
  std::vector<uint8_t> v(out, out + size);
  lucid_free(out);
  return v;
}

inline lucid_status decode(lucid_context* ctx, const std::vector<uint8_t>& s,
                           std::vector<uint8_t>* img, uint32_t* w, uint32_t* h) {
  uint8_t* rgb = nullptr;
  const lucid_status st = lucid_decode_image(ctx, s.data(), s.size(), &rgb, w, h);
  if (st == LUCID_OK) img->assign(rgb, rgb + size_t{*w} * *h * 3);
  lucid_free(rgb);
  return st;
}

}  // namespace lucid::test
