// libFuzzer target: the .lucid parser and the rANS decoder on untrusted bytes.
//
// Parses the input as a container. If it parses, every chunk is decoded as a rANS stream with
// the Gaussian tables (symbol count and table indexes derived from the header, see
// fuzz_streams.h), and re-serialising must give back the input byte for byte. If it does not
// parse, the raw input is decoded as a rANS stream too, since the CRCs make parseable mutations
// rare. Crashes, sanitizer reports, hangs and broken invariants are the findings.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_streams.h"
#include "lucid/entropy/container.h"
#include "lucid/entropy/rans.h"

namespace {

using namespace lucid::entropy;

void decode_stream(const uint8_t* data, size_t size, uint32_t count, uint32_t chunk,
                   uint32_t width) {
  const CdfSet& tables = fuzz::gaussian_tables();
  RansDecoder decoder(tables, data, size);
  int64_t checksum = 0;
  for (uint32_t i = 0; i < count; ++i) checksum += decoder.decode(fuzz::table_for(i, chunk, width));
  const DecodeStatus status = decoder.finish();
  if (status != DecodeStatus::kOk && status != DecodeStatus::kTruncated &&
      status != DecodeStatus::kCorrupt) {
    std::abort();
  }
  (void)checksum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Container container;
  std::string error;
  const ParseStatus status = parse(data, size, &container, &error);
  if (status != ParseStatus::kOk) {
    if (error.empty() || !container.chunks.empty()) std::abort();  // failures explain themselves
    const uint32_t count = size * 4 < fuzz::kMaxSymbolsPerChunk
                               ? static_cast<uint32_t>(size * 4)
                               : fuzz::kMaxSymbolsPerChunk;
    decode_stream(data, size, count, 0, static_cast<uint32_t>(size));
    return 0;
  }
  // A parsed container is canonical: serialising it reproduces the input exactly.
  const std::vector<uint8_t> again = serialize(container);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();

  const uint32_t count = fuzz::symbols_for(container.header.width, container.header.height);
  for (size_t k = 0; k < container.chunks.size(); ++k) {
    const std::vector<uint8_t>& bytes = container.chunks[k].data;
    decode_stream(bytes.data(), bytes.size(), count, static_cast<uint32_t>(k),
                  container.header.width);
  }
  return 0;
}
