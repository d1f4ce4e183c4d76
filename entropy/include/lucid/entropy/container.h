// The .lucid container:
//   magic "LUCD" | u16 format version | u8 stream kind | u8 model-id length | model id bytes |
//   8-byte weight hash | u32 width | u32 height | f32 quality (IEEE bits, little endian) |
//   u16 chunk count | chunk table: (u8 kind, u32 length, u32 CRC32) per chunk |
//   u32 CRC32 of everything before it (header CRC) | chunk payloads back to back.
// All integers little endian. parse() validates everything before allocating anything sized by
// the stream.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lucid::entropy {

// Format versions. The container layout is the same in both; the version says how the decoder
// computes the entropy parameters (means, scales) and the refined latents:
//   1: with the float LibTorch model (T-CA and hyper synthesis). Its results depend on ATen's
//      CPU kernels (default / AVX2 / AVX-512), the thread count and the device, so a stream
//      could fail its latent checksum on another machine. Still read (the old path is kept).
//   2: with Lucid's fixed-order implementation (codec/src/exact_params.h): bit-identical on
//      every machine. Written by default.
constexpr uint16_t kFormatVersion = 2;     // the version serialize() writes by default
constexpr uint16_t kMinFormatVersion = 1;  // the oldest version parse() accepts
constexpr uint32_t kMaxSide = 65535;
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;
constexpr size_t kMaxChunks = 4096;
constexpr size_t kMaxModelIdLength = 64;

enum class StreamKind : uint8_t { kImage = 1 };

enum class ChunkKind : uint8_t {
  kHyperLatent = 1,   // z stream
  kLatentSlice = 2,   // one y slice stream (in slice order)
  kLatentChecksum = 3,  // checksum of the quantized latents, verified by the decoder
  kSideInfo = 4,      // codec-specific parameters
};

struct Chunk {
  ChunkKind kind;
  std::vector<uint8_t> data;
};

struct ContainerHeader {
  uint16_t version = kFormatVersion;  // kMinFormatVersion..kFormatVersion
  StreamKind kind = StreamKind::kImage;
  std::string model_id;                 // stable string, 1..64 printable ASCII bytes
  std::array<uint8_t, 8> weight_hash{};
  uint32_t width = 0;
  uint32_t height = 0;
  float quality = 0.0f;
};

struct Container {
  ContainerHeader header;
  std::vector<Chunk> chunks;
};

enum class ParseStatus {
  kOk = 0,
  kBadMagic,
  kUnsupportedVersion,
  kTruncated,          // stream ends before the header / chunk table / a chunk is complete
  kHeaderCrcMismatch,
  kChunkCrcMismatch,
  kInconsistentLength, // chunk lengths do not add up to the stream size (trailing bytes etc.)
  kAbsurdSize,         // width/height 0, a side > 65535, > 2^28 pixels, too many chunks
  kBadField,           // unknown stream kind / chunk kind, invalid model id, non-finite quality
};

const char* parse_status_str(ParseStatus s);

// Serialises. Throws std::invalid_argument if the header violates the limits above.
std::vector<uint8_t> serialize(const Container& c);

// Parses and validates; on failure `out` is left empty and `error` (if non-null) gets a
// human-readable explanation (e.g. "chunk 3 CRC mismatch").
ParseStatus parse(const uint8_t* data, size_t size, Container* out, std::string* error = nullptr);

}  // namespace lucid::entropy
