// The .lucid container (format in container.h).
//
// parse() checks in this order, so each failure has one status:
//   1. magic (kBadMagic; a short prefix of the magic is kTruncated), format version
//      (kUnsupportedVersion) -- before anything version dependent is read;
//   2. the fixed fields and the chunk count (kTruncated), the count limit (kAbsurdSize),
//      the chunk table and header CRC being present (kTruncated);
//   3. the header CRC (kHeaderCrcMismatch), so that random damage is reported as damage;
//   4. field semantics (kBadField, kAbsurdSize), which a CRC-valid header can still break;
//   5. chunk lengths against the bytes present (kTruncated / kInconsistentLength);
//   6. each chunk's CRC (kChunkCrcMismatch);
// and only then allocates and copies.
#include "lucid/entropy/container.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "lucid/entropy/crc32.h"

namespace lucid::entropy {
namespace {

constexpr uint8_t kMagic[4] = {'L', 'U', 'C', 'D'};
constexpr size_t kChunkEntryBytes = 1 + 4 + 4;  // kind, length, CRC32

void put_u16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

uint32_t get_u32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint32_t float_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float bits_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool valid_stream_kind(uint8_t k) { return k == static_cast<uint8_t>(StreamKind::kImage); }

bool valid_chunk_kind(uint8_t k) {
  return k >= static_cast<uint8_t>(ChunkKind::kHyperLatent) &&
         k <= static_cast<uint8_t>(ChunkKind::kSideInfo);
}

// Empty string if the model id is acceptable, else why not.
std::string model_id_problem(const uint8_t* id, size_t length) {
  if (length == 0) return "model id is empty";
  if (length > kMaxModelIdLength) {
    return "model id is " + std::to_string(length) + " bytes (max " +
           std::to_string(kMaxModelIdLength) + ")";
  }
  for (size_t i = 0; i < length; ++i) {
    if (id[i] < 0x20 || id[i] > 0x7E) {
      return "model id byte " + std::to_string(i) + " is not printable ASCII";
    }
  }
  return {};
}

// Empty string if the image size is within the limits, else why not.
std::string size_problem(uint32_t width, uint32_t height) {
  const std::string dims = std::to_string(width) + "x" + std::to_string(height);
  if (width == 0 || height == 0) return "image size " + dims + " has a zero side";
  if (width > kMaxSide || height > kMaxSide) {
    return "image size " + dims + " has a side above " + std::to_string(kMaxSide);
  }
  if (uint64_t{width} * height > kMaxPixels) {
    return "image size " + dims + " exceeds " + std::to_string(kMaxPixels) + " pixels";
  }
  return {};
}

std::string hex32(uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xF];
  return s;
}

ParseStatus fail(ParseStatus status, std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return status;
}

}  // namespace

const char* parse_status_str(ParseStatus s) {
  switch (s) {
    case ParseStatus::kOk: return "ok";
    case ParseStatus::kBadMagic: return "not a .lucid stream (bad magic)";
    case ParseStatus::kUnsupportedVersion: return "unsupported format version";
    case ParseStatus::kTruncated: return "truncated stream";
    case ParseStatus::kHeaderCrcMismatch: return "header CRC mismatch";
    case ParseStatus::kChunkCrcMismatch: return "chunk CRC mismatch";
    case ParseStatus::kInconsistentLength: return "inconsistent chunk lengths";
    case ParseStatus::kAbsurdSize: return "absurd size";
    case ParseStatus::kBadField: return "invalid header field";
  }
  return "unknown parse status";
}

std::vector<uint8_t> serialize(const Container& c) {
  const ContainerHeader& h = c.header;
  if (h.version < kMinFormatVersion || h.version > kFormatVersion) {
    throw std::invalid_argument("serialize: unsupported format version " +
                                std::to_string(h.version));
  }
  if (!valid_stream_kind(static_cast<uint8_t>(h.kind))) {
    throw std::invalid_argument("serialize: unknown stream kind");
  }
  const std::string id_problem = model_id_problem(
      reinterpret_cast<const uint8_t*>(h.model_id.data()), h.model_id.size());
  if (!id_problem.empty()) throw std::invalid_argument("serialize: " + id_problem);
  const std::string dims_problem = size_problem(h.width, h.height);
  if (!dims_problem.empty()) throw std::invalid_argument("serialize: " + dims_problem);
  if (!std::isfinite(h.quality)) throw std::invalid_argument("serialize: quality not finite");
  if (c.chunks.size() > kMaxChunks) {
    throw std::invalid_argument("serialize: " + std::to_string(c.chunks.size()) +
                                " chunks (max " + std::to_string(kMaxChunks) + ")");
  }
  size_t payload_bytes = 0;
  for (size_t i = 0; i < c.chunks.size(); ++i) {
    if (!valid_chunk_kind(static_cast<uint8_t>(c.chunks[i].kind))) {
      throw std::invalid_argument("serialize: chunk " + std::to_string(i) + " has unknown kind");
    }
    if (c.chunks[i].data.size() > UINT32_MAX) {
      throw std::invalid_argument("serialize: chunk " + std::to_string(i) + " exceeds 4 GiB");
    }
    payload_bytes += c.chunks[i].data.size();
  }

  std::vector<uint8_t> out;
  out.reserve(4 + 2 + 1 + 1 + h.model_id.size() + 8 + 4 + 4 + 4 + 2 +
              kChunkEntryBytes * c.chunks.size() + 4 + payload_bytes);
  out.insert(out.end(), kMagic, kMagic + 4);
  put_u16(out, h.version);
  out.push_back(static_cast<uint8_t>(h.kind));
  out.push_back(static_cast<uint8_t>(h.model_id.size()));
  out.insert(out.end(), h.model_id.begin(), h.model_id.end());
  out.insert(out.end(), h.weight_hash.begin(), h.weight_hash.end());
  put_u32(out, h.width);
  put_u32(out, h.height);
  put_u32(out, float_bits(h.quality));
  put_u16(out, static_cast<uint16_t>(c.chunks.size()));
  for (const Chunk& chunk : c.chunks) {
    out.push_back(static_cast<uint8_t>(chunk.kind));
    put_u32(out, static_cast<uint32_t>(chunk.data.size()));
    put_u32(out, crc32(chunk.data.data(), chunk.data.size()));
  }
  put_u32(out, crc32(out.data(), out.size()));
  for (const Chunk& chunk : c.chunks) out.insert(out.end(), chunk.data.begin(), chunk.data.end());
  return out;
}

ParseStatus parse(const uint8_t* data, size_t size, Container* out, std::string* error) {
  if (out != nullptr) *out = Container{};
  if (error != nullptr) error->clear();
  if (data == nullptr) size = 0;

  // 1. Magic and version.
  if (std::memcmp(data == nullptr ? kMagic : data, kMagic, std::min<size_t>(size, 4)) != 0) {
    return fail(ParseStatus::kBadMagic, error,
                "bad magic: not a .lucid stream (expected \"LUCD\")");
  }
  auto truncated = [&](const char* where, size_t need) {
    return fail(ParseStatus::kTruncated, error,
                std::string("truncated: stream ends inside the ") + where + " (needs " +
                    std::to_string(need) + " bytes, has " + std::to_string(size) + ")");
  };
  if (size < 6) return truncated("header", 6);
  const uint16_t version = get_u16(data + 4);
  if (version < kMinFormatVersion || version > kFormatVersion) {
    return fail(ParseStatus::kUnsupportedVersion, error,
                "unsupported format version " + std::to_string(version) +
                    " (this build reads versions " + std::to_string(kMinFormatVersion) + " to " +
                    std::to_string(kFormatVersion) + ")");
  }

  // 2. Fixed fields; `pos` is always <= size when read.
  size_t pos = 6;
  if (size < pos + 2) return truncated("header", pos + 2);
  const uint8_t stream_kind = data[pos];
  const uint8_t model_id_length = data[pos + 1];
  pos += 2;
  const size_t model_id_pos = pos;
  const size_t fixed_end = pos + model_id_length + 8 + 4 + 4 + 4 + 2;
  if (size < fixed_end) return truncated("header", fixed_end);
  pos += model_id_length;
  const size_t hash_pos = pos;
  pos += 8;
  const uint32_t width = get_u32(data + pos);
  const uint32_t height = get_u32(data + pos + 4);
  const float quality = bits_float(get_u32(data + pos + 8));
  const size_t chunk_count = get_u16(data + pos + 12);
  pos += 14;
  if (chunk_count > kMaxChunks) {
    return fail(ParseStatus::kAbsurdSize, error,
                "absurd size: " + std::to_string(chunk_count) + " chunks (max " +
                    std::to_string(kMaxChunks) + ")");
  }
  const size_t table_pos = pos;
  const size_t header_end = table_pos + kChunkEntryBytes * chunk_count + 4;
  if (size < header_end) return truncated("chunk table", header_end);

  // 3. Header CRC.
  const uint32_t stored_header_crc = get_u32(data + header_end - 4);
  const uint32_t header_crc = crc32(data, header_end - 4);
  if (stored_header_crc != header_crc) {
    return fail(ParseStatus::kHeaderCrcMismatch, error,
                "header CRC mismatch (stored " + hex32(stored_header_crc) + ", computed " +
                    hex32(header_crc) + ")");
  }

  // 4. Field semantics.
  if (!valid_stream_kind(stream_kind)) {
    return fail(ParseStatus::kBadField, error,
                "bad field: unknown stream kind " + std::to_string(stream_kind));
  }
  const std::string id_problem = model_id_problem(data + model_id_pos, model_id_length);
  if (!id_problem.empty()) return fail(ParseStatus::kBadField, error, "bad field: " + id_problem);
  const std::string dims_problem = size_problem(width, height);
  if (!dims_problem.empty()) {
    return fail(ParseStatus::kAbsurdSize, error, "absurd size: " + dims_problem);
  }
  if (!std::isfinite(quality)) {
    return fail(ParseStatus::kBadField, error, "bad field: quality is not a finite number");
  }
  uint64_t payload_bytes = 0;
  for (size_t i = 0; i < chunk_count; ++i) {
    const uint8_t* entry = data + table_pos + kChunkEntryBytes * i;
    if (!valid_chunk_kind(entry[0])) {
      return fail(ParseStatus::kBadField, error,
                  "bad field: chunk " + std::to_string(i) + " has unknown kind " +
                      std::to_string(entry[0]));
    }
    payload_bytes += get_u32(entry + 1);
  }

  // 5. Lengths.
  const uint64_t available = size - header_end;
  if (payload_bytes > available) {
    return fail(ParseStatus::kTruncated, error,
                "truncated: chunks need " + std::to_string(payload_bytes) + " bytes, only " +
                    std::to_string(available) + " follow the header");
  }
  if (payload_bytes < available) {
    return fail(ParseStatus::kInconsistentLength, error,
                "inconsistent length: chunks add up to " + std::to_string(payload_bytes) +
                    " bytes but " + std::to_string(available) + " follow the header");
  }

  // 6. Chunk CRCs.
  size_t chunk_pos = header_end;
  for (size_t i = 0; i < chunk_count; ++i) {
    const uint8_t* entry = data + table_pos + kChunkEntryBytes * i;
    const uint32_t length = get_u32(entry + 1);
    if (crc32(data + chunk_pos, length) != get_u32(entry + 5)) {
      return fail(ParseStatus::kChunkCrcMismatch, error,
                  "chunk " + std::to_string(i) + " CRC mismatch");
    }
    chunk_pos += length;
  }

  // Valid: now allocate.
  if (out != nullptr) {
    ContainerHeader& h = out->header;
    h.version = version;
    h.kind = static_cast<StreamKind>(stream_kind);
    h.model_id.assign(reinterpret_cast<const char*>(data + model_id_pos), model_id_length);
    std::memcpy(h.weight_hash.data(), data + hash_pos, h.weight_hash.size());
    h.width = width;
    h.height = height;
    h.quality = quality;
    out->chunks.resize(chunk_count);
    chunk_pos = header_end;
    for (size_t i = 0; i < chunk_count; ++i) {
      const uint8_t* entry = data + table_pos + kChunkEntryBytes * i;
      const uint32_t length = get_u32(entry + 1);
      out->chunks[i].kind = static_cast<ChunkKind>(entry[0]);
      out->chunks[i].data.assign(data + chunk_pos, data + chunk_pos + length);
      chunk_pos += length;
    }
  }
  return ParseStatus::kOk;
}

}  // namespace lucid::entropy
