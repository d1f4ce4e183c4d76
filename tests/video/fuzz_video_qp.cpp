// libFuzzer target for the HEVC and AV1 QP parsers. The first byte picks the parser and its
// mode; the rest is split at the first "LUCIDPKT" marker (if any) into extradata and packets, so
// that parameter sets / sequence headers and later packets share parser state.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lucid/video/qp_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 4;
  ++data;
  --size;
  static const char kSep[] = "LUCIDPKT";
  const size_t sep_len = sizeof(kSep) - 1;
  size_t extra = 0;
  for (size_t i = 0; i + sep_len <= size; ++i) {
    if (std::memcmp(data + i, kSep, sep_len) == 0) {
      extra = i;
      break;
    }
  }
  const uint8_t* ed = data;
  const uint8_t* body = extra ? data + extra + sep_len : data;
  const size_t body_size = extra ? size - extra - sep_len : size;
  // Packets: the body split in up to 4 pieces, so state carries across calls.
  auto feed = [&](auto& parser) {
    const size_t step = body_size / 4 + 1;
    for (size_t off = 0; off < body_size; off += step) {
      const size_t n = off + step > body_size ? body_size - off : step;
      for (const auto& pic : parser.parse_packet(body + off, n).pictures) {
        if (pic.qp < -100 || pic.qp > 255) __builtin_trap();
      }
    }
  };
  if (mode < 2) {
    lucid::video::HevcQpParser p(extra ? ed : nullptr, extra);
    feed(p);
  } else {
    lucid::video::Av1QpParser p(extra ? ed : nullptr, extra, mode == 3);
    feed(p);
  }
  return 0;
}
