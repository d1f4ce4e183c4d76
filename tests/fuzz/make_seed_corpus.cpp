// Writes the fuzz seed corpus: small valid containers whose chunks are rANS streams that
// fuzz_container decodes exactly (same symbol counts and table indexes), plus one bare rANS
// stream with escapes, which the target decodes as raw (non-container) bytes.
// Usage: lucid-fuzz-make-corpus <output directory>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz_streams.h"
#include "lucid/entropy/container.h"
#include "lucid/entropy/rans.h"

namespace {

using namespace lucid::entropy;

// Deterministic values for symbol i: mostly small, some escapes, some int32 extremes.
int32_t value_for(uint32_t i, uint32_t chunk, bool with_escapes) {
  uint32_t h = (i + 1) * 0x27D4EB2Fu ^ (chunk + 7) * 0x165667B1u;
  h ^= h >> 13;
  h *= 0x85EBCA77u;
  h ^= h >> 16;
  if (with_escapes && h % 97 == 0) return h % 2 ? INT32_MAX : INT32_MIN;
  if (with_escapes && h % 13 == 0) return static_cast<int32_t>(h % 20000) - 10000;
  return static_cast<int32_t>(h % 7) - 3;
}

std::vector<uint8_t> stream_for(uint32_t count, uint32_t chunk, uint32_t width,
                                bool with_escapes) {
  RansEncoder encoder(fuzz::gaussian_tables());
  for (uint32_t i = 0; i < count; ++i) {
    encoder.encode(value_for(i, chunk, with_escapes), fuzz::table_for(i, chunk, width));
  }
  return encoder.finish();
}

bool write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

Container make_container(uint32_t width, uint32_t height, int chunks, bool with_escapes) {
  Container c;
  c.header.model_id = "lucid-small-v1";
  c.header.weight_hash = {0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE};
  c.header.width = width;
  c.header.height = height;
  c.header.quality = 0.5f;
  const uint32_t count = fuzz::symbols_for(width, height);
  for (int k = 0; k < chunks; ++k) {
    const ChunkKind kind = k == 0 ? ChunkKind::kHyperLatent : ChunkKind::kLatentSlice;
    c.chunks.push_back(Chunk{kind, stream_for(count, static_cast<uint32_t>(k), width,
                                              with_escapes)});
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lucid-fuzz-make-corpus <output directory>\n");
    return 2;
  }
  const std::string dir = argv[1];
  struct Seed {
    const char* name;
    std::vector<uint8_t> bytes;
  };
  Container with_side_info = make_container(4, 4, 2, false);
  with_side_info.chunks.push_back(Chunk{ChunkKind::kSideInfo, {1, 2, 3, 4}});
  const Seed seeds[] = {
      {"no_chunks.lucid", serialize(make_container(1, 1, 0, false))},
      {"small.lucid", serialize(make_container(8, 6, 3, false))},
      {"escapes.lucid", serialize(make_container(16, 8, 2, true))},
      {"side_info.lucid", serialize(with_side_info)},
      {"bare_stream.rans", stream_for(64, 0, 16, true)},
  };
  for (const Seed& seed : seeds) {
    if (!write_file(dir + "/" + seed.name, seed.bytes)) {
      std::fprintf(stderr, "error: lucid-fuzz-make-corpus: cannot write %s/%s\n", dir.c_str(),
                   seed.name);
      return 1;
    }
  }
  return 0;
}
