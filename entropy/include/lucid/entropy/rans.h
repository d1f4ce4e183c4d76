// rANS entropy coder over 16-bit integer CDFs, where every symbol picks its CDF by index
// (the Gaussian-conditional scale-table pattern). Values outside a CDF's range are coded as an
// escape symbol followed by bypass bits, so any int32 value is encodable.
// Plain C++17, bit-exact on every platform, compiler and thread count.
//
// Stream format (one byte stream per RansEncoder::finish()): one or more segments,
//   segment = u32 little-endian final encoder state | renormalisation bytes ...
// Segment k holds symbols [k * 2^20, (k + 1) * 2^20) of the sequence; there are
// max(1, ceil(count / 2^20)) segments, so the decoder knows every boundary from the symbol count
// alone, and an empty sequence is the 4-byte segment of the initial state. Segments bound the
// encoder's memory (rANS codes backwards, so it must buffer what it codes) for 4 bytes per
// million symbols.
// The coder: 32-bit state kept in [2^24, 2^32), byte-wise renormalisation. With 16-bit CDFs
// that leaves x / freq >= 2^8 at every step, which makes the rounding loss of rANS negligible
// (a state in [2^16, 2^32) with 16-bit words loses 0.05-0.2%). The encoder starts and the
// decoder must end each segment in the state 2^24, and every byte must be consumed, which the
// decoder checks at each segment boundary and in finish(). A single coder (no interleaving)
// keeps the per-stream cost at 4 bytes; measured, a second interleaved coder made per-symbol
// decode() only ~10% faster.
//
// Escape + bypass: a value v outside a table's range [lo, hi] is coded as the escape symbol,
// then, by the same coder, the Elias-gamma code of u = zigzag + 1, where zigzag = 2 * (v - hi - 1)
// above the range and 2 * (lo - 1 - v) + 1 below it (so values just outside the range are cheap).
// The bits are coded as uniform rANS symbols (a k-bit field is a symbol of frequency 2^(16-k)),
// so they cost exactly their raw length and need no second stream: first the unary length prefix
// (L - 1 zero bits then a one bit, one bit per step, L <= 34), then the L - 1 bits below u's
// leading one, least significant 16-bit chunk first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lucid::entropy {

constexpr int kCdfPrecision = 16;  // CDFs sum to 1 << 16

// A set of CDF tables, stored flat. Table i covers values [offset_i, offset_i + n_i - 2]
// (n_i - 1 regular symbols) plus one escape symbol (the last), so a table of n_i symbols has
// n_i + 1 CDF entries: cdf[0] == 0, cdf[n_i] == 1 << 16, strictly increasing (no symbol,
// including the escape, ever has zero probability).
// Encoders and decoders keep a pointer to their CdfSet, which must outlive them. A CdfSet that is
// no longer modified can be shared by any number of encoders and decoders on any threads.
class CdfSet {
 public:
  // Adds a table and returns its index. `cdf` must satisfy the invariants above (checked;
  // throws std::invalid_argument otherwise). Needs at least 2 symbols (1 regular + escape), and
  // the range's last value offset + n - 2 must fit in int32.
  // To build a table from probabilities use add_pmf_table() / add_gaussian_tables() (cdf.h).
  int add(const std::vector<uint32_t>& cdf, int32_t offset);
  size_t size() const { return tables_.size(); }
  int32_t offset(int i) const { return tables_[i].offset; }
  int num_symbols(int i) const { return static_cast<int>(tables_[i].num_symbols); }
  const uint32_t* cdf(int i) const { return cdf_.data() + tables_[i].cdf_start; }

 private:
  friend class RansEncoder;
  friend class RansDecoder;

  // The decoder finds the symbol of a 16-bit slot by looking up slot >> kLookupShift in a small
  // per-table array (the symbol owning the bucket's first slot), then choosing among the
  // usually 1..4 candidate symbols of that bucket. 257 u16 entries per table stay cache friendly
  // where a full 65536-entry slot table per scale would not.
  static constexpr int kLookupShift = 8;
  static constexpr uint32_t kLookupBuckets = (1u << kCdfPrecision) >> kLookupShift;
  // Each table's CDF is followed by this many 65536 sentinels, so the search can read up to 3
  // entries past a candidate without bounds checks.
  static constexpr uint32_t kCdfPadding = 3;

  struct Table {
    uint32_t cdf_start;     // first CDF entry in cdf_
    uint32_t lookup_start;  // first bucket entry in lookup_ (kLookupBuckets + 1 entries)
    int32_t offset;         // value of symbol 0
    uint32_t num_symbols;   // including the escape (the last symbol)
  };
  std::vector<uint32_t> cdf_;     // all tables (each + kCdfPadding sentinels) back to back
  std::vector<uint16_t> lookup_;  // bucket -> first candidate symbol, all tables back to back
  std::vector<Table> tables_;
};

// Encoder. Symbols are buffered and coded in reverse, one segment at a time (rANS is LIFO), so
// the decoder reads them in the order they were given to encode().
class RansEncoder {
 public:
  // Symbols per segment (see the stream format above).
  static constexpr size_t kSegmentSymbols = size_t{1} << 20;

  explicit RansEncoder(const CdfSet& cdfs) : cdfs_(&cdfs) {}
  // Codes `value` with table `cdf_index` (escape + bypass if out of the table's range).
  // Throws std::out_of_range for an invalid cdf_index.
  void encode(int32_t value, int cdf_index) {
    if (static_cast<size_t>(static_cast<unsigned>(cdf_index)) >= cdfs_->size()) {
      throw_bad_index(cdf_index);
    }
    pending_.push_back(Pending{value, cdf_index});
    if (pending_.size() == kSegmentSymbols) code_segment();
  }
  // Same for `count` symbols at once: values[i] with table cdf_indexes[i].
  void encode(const int32_t* values, const int32_t* cdf_indexes, size_t count);
  // Produces the byte stream and resets the encoder. An empty input gives a valid, small stream.
  std::vector<uint8_t> finish();

 private:
  struct Pending { int32_t value; int32_t cdf_index; };
  [[noreturn]] void throw_bad_index(int cdf_index) const;
  void code_segment();  // codes pending_ into out_ and clears it

  const CdfSet* cdfs_;
  std::vector<Pending> pending_;   // the current segment's symbols, at most kSegmentSymbols
  std::vector<uint8_t> out_;       // finished segments
  std::vector<uint8_t> scratch_;   // one segment's bytes, filled from the end
  size_t segments_ = 0;
};

enum class DecodeStatus { kOk = 0, kTruncated, kCorrupt };

// Decoder over a byte view. Never reads outside [data, data + size); on malformed input it
// returns values in range (never crashes, never loops forever) and sets status() != kOk.
// Each decode() does a bounded amount of work (at most 38 rANS steps, for an int32 escape).
// The caller must decode exactly as many symbols as were encoded, with the same indexes.
class RansDecoder {
 public:
  RansDecoder(const CdfSet& cdfs, const uint8_t* data, size_t size);
  // Decodes the next symbol with table `cdf_index` (which must be the one the encoder used).
  // Throws std::out_of_range for an invalid cdf_index (a caller bug, not a stream error).
  int32_t decode(int cdf_index);
  // Same for `count` symbols: values[i] decoded with table cdf_indexes[i]. Returns status().
  DecodeStatus decode(const int32_t* cdf_indexes, size_t count, int32_t* values);
  // kOk while the stream is consistent; checked at the end with finish().
  DecodeStatus status() const { return status_; }
  // Call after the last symbol: verifies that the final state matches the encoder's initial
  // state and all bytes were consumed (kCorrupt otherwise; kTruncated if the data ran out).
  // Decoding fewer or more symbols than were encoded gives kCorrupt (or kTruncated).
  DecodeStatus finish();

 private:
  uint32_t read_bits(uint32_t& state, int bits);
  int32_t decode_escape(uint32_t& state, int64_t low, int64_t high);
  void renormalize(uint32_t& state);
  void start_segment();
  void fail(DecodeStatus s) {
    if (status_ == DecodeStatus::kOk) status_ = s;
  }

  const CdfSet* cdfs_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint32_t state_ = 0;
  size_t symbols_left_in_segment_ = 0;
  DecodeStatus status_ = DecodeStatus::kOk;
};

}  // namespace lucid::entropy
