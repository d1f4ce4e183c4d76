// Image files for the command-line apps: read PNG / JPEG / PPM / PGM into RGB8, write PNG / PPM /
// JPEG atomically, and read/write whole files (.lucid streams) with the same error reporting.
//
// Errors are ImageError exceptions whose what() is "<path>: <reason>", ready for the CLI's
// "error: what: why" line; code() lets the CLI pick its exit code (unreadable vs corrupt input vs
// write failure). POSIX only (open/link/rename).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "lucid/media/limits.h"

namespace lucid::media {

// Interleaved 8-bit RGB, row-major, no padding: rgb.size() == width * height * 3.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
  // read_image: the file was grayscale (its pixels are expanded, R = G = B). write_image: the
  // file gets one gray channel, taken from R (8-bit gray PNG, PGM P5, grayscale JPEG).
  bool gray = false;
};

// Replaces interleaved RGB8 pixels by their luma (0.299 R + 0.587 G + 0.114 B, rounded) in
// all three channels: how a restored image of a grayscale input becomes gray.
void reduce_to_luma(std::vector<uint8_t>& rgb);

enum class ImageErrorCode {
  kUnreadable,   // missing file, no permission, a directory, I/O error while reading
  kCorrupt,      // recognised format but damaged or truncated data
  kUnsupported,  // unknown/unsupported format or variant, alpha channel that is not opaque
  kTooLarge,     // a side > 65535, more than 2^28 pixels, or the file exceeds the size cap
  kExists,       // output exists and overwrite was not requested
  kWriteFailed,  // cannot create, write, sync or rename the output
};

const char* image_error_code_str(ImageErrorCode code);

class ImageError : public std::runtime_error {
 public:
  ImageError(ImageErrorCode code, std::string path, std::string reason);
  ImageErrorCode code() const noexcept { return code_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  ImageErrorCode code_;
  std::string path_;
  std::string reason_;
};

// Reads an image, detecting the format from its first bytes (never from the extension):
//  - PNG: any colour type, 1..16 bits, interlaced or not. 16-bit samples become 8-bit with
//    rounding, v8 = (v16 * 255 + 32767) / 65535. Gamma/ICC chunks are ignored (values as stored).
//  - JPEG: through lucid::jpeg::decode_jpeg (damaged or truncated data is kCorrupt).
//  - PPM/PGM: binary P6/P5, maxval 1..65535 (scaled to 8 bits with rounding, so 255 and 65535
//    behave like PNG); comments allowed in the header. ASCII P2/P3, PBM and PAM are kUnsupported.
// Grayscale is expanded to RGB (and `gray` set). An alpha channel (including PNG tRNS transparency) is accepted
// only when every pixel is fully opaque, and then dropped; otherwise kUnsupported with the reason
// "has an alpha channel; flatten it first (e.g. convert IN -background white -flatten OUT)".
// Size limits are checked from the header before any pixel buffer is allocated.
// Reasons start with "cannot read: " except for the alpha and too-large cases.
Image read_image(const std::string& path);

// The same decoding from bytes already in memory; `name` is used in error messages.
Image decode_image(const uint8_t* data, size_t size, const std::string& name);

// Writes an image; the format comes from the extension, case-insensitive: .png (8-bit RGB),
// .ppm/.pgm (binary P6), .jpg/.jpeg (baseline 4:2:0 at jpeg_quality, 1..100, optimized
// Huffman); an Image with `gray` is written with one channel (gray PNG, P5, grayscale JPEG).
// Refuses to replace an existing file unless `overwrite` (kExists), and goes through
// write_file_atomic so a crash or a failure never leaves a partial output under `path`.
// Throws std::invalid_argument for an inconsistent Image, ImageError otherwise.
void write_image(const std::string& path, const Image& image, bool overwrite,
                 int jpeg_quality = 95);

// Encodes to the format write_image would pick for `path` (same rules, nothing is written).
std::vector<uint8_t> encode_image_for_path(const std::string& path, const Image& image,
                                           int jpeg_quality = 95);

// Writes bytes to a hidden temporary file in the target's directory (".<name>.tmp-<pid>-<n>"),
// fsyncs it, then moves it into place: with overwrite, rename(); without, link() which fails
// atomically if `path` appeared meanwhile (kExists). The temporary is removed on every failure.
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes,
                       bool overwrite);

// Reads a whole file; kUnreadable if it cannot be opened or is a directory, kTooLarge if it is
// larger than max_bytes (checked before reading when the size is known).
std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes = kMaxImageFileBytes);

}  // namespace lucid::media
