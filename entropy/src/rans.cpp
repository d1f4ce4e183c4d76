// rANS coder: see rans.h for the stream format and the escape/bypass design.
#include "lucid/entropy/rans.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace lucid::entropy {
namespace {

constexpr uint32_t kProbScale = 1u << kCdfPrecision;  // total frequency of every table
constexpr uint32_t kStateLow = 1u << 24;              // states live in [kStateLow, 2^32)
constexpr size_t kSegmentHeaderBytes = 4;             // the coder's final state
constexpr int kMaxGammaLength = 34;  // bit length of u = zigzag + 1 <= 2^33 for int32 values
constexpr int kMaxBypassChunk = 16;
// Most rANS steps one symbol takes (escape + 34 prefix bits + 3 suffix chunks), each emitting at
// most two bytes, plus one byte of room for encode_step's unconditional store.
constexpr size_t kMaxBytesPerSymbol = 2 * (1 + kMaxGammaLength + 3) + 1;

// Bytes are written backwards into a buffer (`pos` moves down), so the finished segment is
// already in the decoder's reading order.
struct ByteSink {
  uint8_t* buf;
  size_t pos;  // bytes [pos, end) are written; code_segment keeps room for one symbol below
};

// One rANS encode step. Renormalise: shift bytes out until x < freq * 2^16 (at most two, as
// x < 2^32 and freq * 2^16 >= 2^16), so that x' = (x / freq) * 2^16 + x % freq + start stays
// below 2^32; since the decoder keeps x >= 2^24, x / freq >= 2^8 here. The renormalisation is
// branchless: whether a byte goes out is data dependent and would mispredict often.
inline void encode_step(uint32_t& x, uint32_t start, uint32_t freq, ByteSink& out) {
  const uint32_t x_max = freq << kCdfPrecision;
  for (int i = 0; i < 2; ++i) {
    const uint32_t emit = x >= x_max ? 1 : 0;
    out.buf[out.pos - 1] = static_cast<uint8_t>(x);
    out.pos -= emit;
    x >>= 8 * emit;
  }
  x = ((x / freq) << kCdfPrecision) + (x % freq) + start;
}

// `bits` (< 2^count, 1 <= count <= 16) as a uniform symbol: costs exactly `count` bits.
inline void encode_bits(uint32_t& x, uint32_t bits, int count, ByteSink& out) {
  const int shift = kCdfPrecision - count;
  encode_step(x, bits << shift, 1u << shift, out);
}

int bit_length(uint64_t u) {
  int n = 0;
  while (u != 0) {
    ++n;
    u >>= 1;
  }
  return n;
}

// Codes the bypass part of an escape for `value` outside [low, high] in encoder order, i.e. the
// reverse of the decoder's reading order (suffix chunks last to first, the one bit, the zeros).
void encode_escape_bypass(uint32_t& x, int64_t value, int64_t low, int64_t high,
                          ByteSink& out) {
  const uint64_t zigzag = value > high ? 2 * static_cast<uint64_t>(value - high - 1)
                                       : 2 * static_cast<uint64_t>(low - 1 - value) + 1;
  const uint64_t u = zigzag + 1;
  const int length = bit_length(u);
  const int suffix_bits = length - 1;
  if (suffix_bits > 0) {
    // Suffix chunks are read least significant first, so code the most significant one first.
    for (int chunk_start = (suffix_bits - 1) / kMaxBypassChunk * kMaxBypassChunk;
         chunk_start >= 0; chunk_start -= kMaxBypassChunk) {
      const int count = std::min(kMaxBypassChunk, suffix_bits - chunk_start);
      const uint32_t bits = static_cast<uint32_t>(u >> chunk_start) & ((1u << count) - 1);
      encode_bits(x, bits, count, out);
    }
  }
  encode_bits(x, 1, 1, out);
  for (int i = 0; i < length - 1; ++i) encode_bits(x, 0, 1, out);
}

inline void put_u32_le(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

inline uint32_t get_u32_le(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

[[noreturn]] void throw_index_error(int cdf_index, size_t size) {
  throw std::out_of_range("rans: cdf index " + std::to_string(cdf_index) + " out of range (" +
                          std::to_string(size) + " tables)");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CdfSet

int CdfSet::add(const std::vector<uint32_t>& cdf, int32_t offset) {
  if (cdf.size() < 3 || cdf.size() > kProbScale + 1) {
    throw std::invalid_argument("CdfSet::add: a table needs 2..65536 symbols, got " +
                                std::to_string(cdf.size() < 1 ? 0 : cdf.size() - 1));
  }
  if (cdf.front() != 0 || cdf.back() != kProbScale) {
    throw std::invalid_argument("CdfSet::add: cdf must start at 0 and end at 65536");
  }
  for (size_t i = 1; i < cdf.size(); ++i) {
    if (cdf[i] <= cdf[i - 1]) {
      throw std::invalid_argument("CdfSet::add: cdf not strictly increasing at entry " +
                                  std::to_string(i) + " (zero-probability symbol)");
    }
  }
  const uint32_t num_symbols = static_cast<uint32_t>(cdf.size() - 1);
  if (int64_t{offset} + num_symbols - 2 > INT32_MAX) {
    throw std::invalid_argument("CdfSet::add: value range exceeds int32");
  }
  if (tables_.size() >= static_cast<size_t>(INT32_MAX) ||
      cdf_.size() + cdf.size() + kCdfPadding > UINT32_MAX ||
      lookup_.size() + kLookupBuckets + 1 > UINT32_MAX) {
    throw std::length_error("CdfSet::add: too many tables");
  }

  Table t;
  t.cdf_start = static_cast<uint32_t>(cdf_.size());
  t.lookup_start = static_cast<uint32_t>(lookup_.size());
  t.offset = offset;
  t.num_symbols = num_symbols;
  cdf_.insert(cdf_.end(), cdf.begin(), cdf.end());
  cdf_.insert(cdf_.end(), kCdfPadding, kProbScale);  // sentinels for the decoder's search
  // Bucket b holds the symbol owning slot b << kLookupShift; the extra last entry is the last
  // symbol, which always owns slot 65535, so [lookup[b], lookup[b + 1]] brackets every slot of b.
  uint32_t symbol = 0;
  for (uint32_t b = 0; b < kLookupBuckets; ++b) {
    const uint32_t slot = b << kLookupShift;
    while (cdf[symbol + 1] <= slot) ++symbol;
    lookup_.push_back(static_cast<uint16_t>(symbol));
  }
  lookup_.push_back(static_cast<uint16_t>(num_symbols - 1));
  tables_.push_back(t);
  return static_cast<int>(tables_.size() - 1);
}

// ---------------------------------------------------------------------------------------------
// RansEncoder

void RansEncoder::throw_bad_index(int cdf_index) const {
  throw_index_error(cdf_index, cdfs_->size());
}

void RansEncoder::encode(const int32_t* values, const int32_t* cdf_indexes, size_t count) {
  const size_t num_tables = cdfs_->size();
  for (size_t i = 0; i < count; ++i) {
    if (static_cast<uint32_t>(cdf_indexes[i]) >= num_tables) throw_bad_index(cdf_indexes[i]);
  }
  for (size_t i = 0; i < count; ++i) {
    pending_.push_back(Pending{values[i], cdf_indexes[i]});
    if (pending_.size() == kSegmentSymbols) code_segment();
  }
}

void RansEncoder::code_segment() {
  const CdfSet::Table* tables = cdfs_->tables_.data();
  const uint32_t* all_cdfs = cdfs_->cdf_.data();

  // A regular symbol emits at most two bytes (and about bits / 8 on average); escapes may need
  // the buffer to grow.
  const size_t wanted = pending_.size() + kMaxBytesPerSymbol + 64;
  if (scratch_.size() < wanted) scratch_.resize(wanted);
  ByteSink sink{scratch_.data(), scratch_.size()};
  uint32_t x = kStateLow;

  for (size_t i = pending_.size(); i-- > 0;) {
    if (sink.pos < kMaxBytesPerSymbol) {  // grow, keeping the written tail at the end
      const size_t used = scratch_.size() - sink.pos;
      std::vector<uint8_t> bigger(2 * scratch_.size());
      std::copy(scratch_.end() - used, scratch_.end(), bigger.end() - used);
      scratch_.swap(bigger);
      sink = ByteSink{scratch_.data(), scratch_.size() - used};
    }
    const Pending p = pending_[i];
    const CdfSet::Table& t = tables[p.cdf_index];
    const uint32_t* cdf = all_cdfs + t.cdf_start;
    const uint32_t escape = t.num_symbols - 1;
    const int64_t symbol = int64_t{p.value} - t.offset;
    if (static_cast<uint64_t>(symbol) < escape) {
      const uint32_t start = cdf[symbol];
      encode_step(x, start, cdf[symbol + 1] - start, sink);
    } else {
      encode_escape_bypass(x, p.value, t.offset, int64_t{t.offset} + escape - 1, sink);
      encode_step(x, cdf[escape], kProbScale - cdf[escape], sink);
    }
  }

  const size_t header_at = out_.size();
  const size_t body_bytes = scratch_.size() - sink.pos;
  out_.resize(header_at + kSegmentHeaderBytes + body_bytes);
  put_u32_le(out_.data() + header_at, x);
  std::copy(scratch_.begin() + sink.pos, scratch_.end(),
            out_.begin() + header_at + kSegmentHeaderBytes);
  pending_.clear();
  ++segments_;
}

std::vector<uint8_t> RansEncoder::finish() {
  // A full last segment was already coded by encode(); an empty sequence still gets one.
  if (!pending_.empty() || segments_ == 0) code_segment();
  std::vector<uint8_t> result;
  result.swap(out_);
  segments_ = 0;
  return result;
}

// ---------------------------------------------------------------------------------------------
// RansDecoder

RansDecoder::RansDecoder(const CdfSet& cdfs, const uint8_t* data, size_t size)
    : cdfs_(&cdfs), data_(data), size_(data == nullptr ? 0 : size) {
  start_segment();
}

// Reads the next segment's initial state. On a short or impossible header the state is set to
// kStateLow so that decoding goes on (with flagged, meaningless values).
void RansDecoder::start_segment() {
  symbols_left_in_segment_ = RansEncoder::kSegmentSymbols;
  if (size_ - pos_ < kSegmentHeaderBytes) {
    state_ = kStateLow;
    pos_ = size_;
    fail(DecodeStatus::kTruncated);
    return;
  }
  state_ = get_u32_le(data_ + pos_);
  pos_ += kSegmentHeaderBytes;
  if (state_ < kStateLow) {  // no encoder ever ends below kStateLow
    state_ = kStateLow;
    fail(DecodeStatus::kCorrupt);
  }
}

// After a step the state is >= 2^8 (freq * (x >> 16) >= 1 * 2^8) and may be below kStateLow:
// shift in the one or two bytes that bring it back to [2^24, 2^32). Branchless in the common
// case (how many bytes is data dependent); the bounds test is predictable (true until the end).
// Past the end, shift in zeros (the state stays valid) and flag truncation.
inline void RansDecoder::renormalize(uint32_t& x) {
  const uint32_t needed = (x < kStateLow ? 1u : 0u) + (x < (1u << 16) ? 1u : 0u);
  if (size_ - pos_ >= 2) {
    const uint32_t b0 = data_[pos_];
    const uint32_t b1 = data_[pos_ + 1];
    const uint32_t one = (x << 8) | b0;
    const uint32_t two = (x << 16) | (b0 << 8) | b1;
    x = needed == 2 ? two : needed == 1 ? one : x;
    pos_ += needed;
    return;
  }
  for (uint32_t i = 0; i < needed; ++i) {
    if (pos_ < size_) {
      x = (x << 8) | data_[pos_++];
    } else {
      x <<= 8;
      fail(DecodeStatus::kTruncated);
    }
  }
}

inline uint32_t RansDecoder::read_bits(uint32_t& x, int count) {
  const int shift = kCdfPrecision - count;
  const uint32_t slot = x & (kProbScale - 1);
  const uint32_t bits = slot >> shift;
  x = (x >> kCdfPrecision << shift) + (slot & ((1u << shift) - 1));
  renormalize(x);
  return bits;
}

int32_t RansDecoder::decode_escape(uint32_t& x, int64_t low, int64_t high) {
  int length = 1;
  while (read_bits(x, 1) == 0) {
    if (++length > kMaxGammaLength) {
      fail(DecodeStatus::kCorrupt);
      return static_cast<int32_t>(low);
    }
  }
  const int suffix_bits = length - 1;
  uint64_t u = uint64_t{1} << suffix_bits;
  for (int chunk_start = 0; chunk_start < suffix_bits; chunk_start += kMaxBypassChunk) {
    const int count = std::min(kMaxBypassChunk, suffix_bits - chunk_start);
    u |= uint64_t{read_bits(x, count)} << chunk_start;
  }
  const uint64_t zigzag = u - 1;
  const int64_t distance = static_cast<int64_t>(zigzag >> 1);  // < 2^33, no overflow below
  const int64_t value = (zigzag & 1) ? low - 1 - distance : high + 1 + distance;
  if (value < INT32_MIN || value > INT32_MAX) {
    fail(DecodeStatus::kCorrupt);
    return static_cast<int32_t>((zigzag & 1) ? low : high);
  }
  return static_cast<int32_t>(value);
}

int32_t RansDecoder::decode(int cdf_index) {
  const size_t num_tables = cdfs_->tables_.size();
  if (static_cast<unsigned>(cdf_index) >= num_tables) throw_index_error(cdf_index, num_tables);
  if (symbols_left_in_segment_ == 0) {  // segment boundary: the last one must have closed
    if (state_ != kStateLow) fail(DecodeStatus::kCorrupt);
    start_segment();
  }
  --symbols_left_in_segment_;

  const CdfSet::Table& t = cdfs_->tables_[cdf_index];
  const uint32_t* cdf = cdfs_->cdf_.data() + t.cdf_start;
  const uint16_t* lookup = cdfs_->lookup_.data() + t.lookup_start;

  uint32_t& x = state_;
  const uint32_t slot = x & (kProbScale - 1);
  const uint32_t bucket = slot >> CdfSet::kLookupShift;
  // The symbol is the largest s in [lookup[bucket], lookup[bucket + 1]] with cdf[s] <= slot.
  // Narrow the candidates to at most 4 by bisection (needed only where many rare symbols share
  // a bucket), then count the 3 thresholds below the slot without branches: which candidate
  // wins is data dependent and would mispredict. Entries past the last candidate, including
  // the table's padding sentinels (65536), all exceed the slot.
  uint32_t symbol = lookup[bucket];
  uint32_t count = uint32_t{lookup[bucket + 1]} - symbol + 1;
  while (count > 4) {
    const uint32_t half = count >> 1;
    symbol = cdf[symbol + half] <= slot ? symbol + half : symbol;
    count -= half;
  }
  symbol += (cdf[symbol + 1] <= slot ? 1u : 0u) + (cdf[symbol + 2] <= slot ? 1u : 0u) +
            (cdf[symbol + 3] <= slot ? 1u : 0u);
  const uint32_t start = cdf[symbol];
  x = (cdf[symbol + 1] - start) * (x >> kCdfPrecision) + slot - start;
  renormalize(x);

  const uint32_t escape = t.num_symbols - 1;
  if (symbol < escape) return static_cast<int32_t>(int64_t{t.offset} + symbol);
  return decode_escape(x, t.offset, int64_t{t.offset} + escape - 1);
}

DecodeStatus RansDecoder::decode(const int32_t* cdf_indexes, size_t count, int32_t* values) {
  for (size_t i = 0; i < count; ++i) values[i] = decode(cdf_indexes[i]);
  return status_;
}

DecodeStatus RansDecoder::finish() {
  if (status_ != DecodeStatus::kOk) return status_;
  if (state_ != kStateLow || pos_ != size_) {
    fail(DecodeStatus::kCorrupt);
  }
  return status_;
}

}  // namespace lucid::entropy
