#include "lucid/media/image_io.h"

#include <fcntl.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "lucid/media/jpeg_io.h"

namespace lucid::media {

const char* image_error_code_str(ImageErrorCode code) {
  switch (code) {
    case ImageErrorCode::kUnreadable: return "unreadable";
    case ImageErrorCode::kCorrupt: return "corrupt";
    case ImageErrorCode::kUnsupported: return "unsupported";
    case ImageErrorCode::kTooLarge: return "too large";
    case ImageErrorCode::kExists: return "exists";
    case ImageErrorCode::kWriteFailed: return "write failed";
  }
  return "unknown";
}

ImageError::ImageError(ImageErrorCode code, std::string path, std::string reason)
    : std::runtime_error(path + ": " + reason),
      code_(code),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

namespace {

constexpr const char* kAlphaReason =
    "has an alpha channel; flatten it first (e.g. convert IN -background white -flatten OUT)";

[[noreturn]] void fail(ImageErrorCode code, const std::string& path, const std::string& reason) {
  throw ImageError(code, path, reason);
}

std::string errno_text(int err) { return std::strerror(err); }

// Rejects sizes beyond the limits; called with header values, before allocating pixels.
void check_size(uint64_t w, uint64_t h, const std::string& name) {
  if (w == 0 || h == 0) fail(ImageErrorCode::kCorrupt, name, "cannot read: zero image size");
  if (w > kMaxImageSide || h > kMaxImageSide || w * h > kMaxImagePixels)
    fail(ImageErrorCode::kTooLarge, name,
         "too large: " + std::to_string(w) + "x" + std::to_string(h) + " (limit " +
             std::to_string(kMaxImageSide) + " per side and 2^28 pixels)");
}

uint8_t to8(uint32_t v, uint32_t maxval) {
  if (v >= maxval) return 255;
  return static_cast<uint8_t>((v * 255u + maxval / 2) / maxval);
}

// Converts `channels` samples per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) of `depth` bits
// (8, or 16 big-endian) to RGB8. Throws the alpha error unless every alpha sample is opaque.
Image to_rgb8(const uint8_t* src, size_t stride, int w, int h, int channels, int depth,
              const std::string& name) {
  const bool wide = depth == 16;
  auto sample = [&](const uint8_t* row, size_t i) -> uint32_t {
    return wide ? (uint32_t{row[2 * i]} << 8 | row[2 * i + 1]) : row[i];
  };
  const uint32_t maxval = wide ? 65535 : 255;
  if (channels == 2 || channels == 4) {
    for (int y = 0; y < h; ++y) {
      const uint8_t* row = src + size_t(y) * stride;
      for (int x = 0; x < w; ++x)
        if (sample(row, size_t(x) * channels + channels - 1) != maxval)
          fail(ImageErrorCode::kUnsupported, name, kAlphaReason);
    }
  }
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(size_t(w) * h * 3);
  const bool gray = channels <= 2;
  img.gray = gray;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = src + size_t(y) * stride;
    uint8_t* dst = img.rgb.data() + size_t(y) * w * 3;
    for (int x = 0; x < w; ++x) {
      const size_t base = size_t(x) * channels;
      if (gray) {
        dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = to8(sample(row, base), maxval);
      } else {
        for (int c = 0; c < 3; ++c) dst[3 * x + c] = to8(sample(row, base + c), maxval);
      }
    }
  }
  return img;
}

// ---------------------------------------------------------------------------------------------
// PNG (libpng). libpng reports errors by longjmp; as in jpeg_io.cpp the function that calls
// setjmp keeps everything it needs afterwards in a job owned by its caller, and the callbacks
// never throw through libpng.
// ---------------------------------------------------------------------------------------------

struct PngReadJob {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char message[256] = {};
  ImageErrorCode code = ImageErrorCode::kCorrupt;
  uint32_t width = 0, height = 0;
  int channels = 0, depth = 0;
  size_t stride = 0;
  std::vector<uint8_t> raw;
  std::vector<png_bytep> rows;
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* job = static_cast<PngReadJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof(job->message), "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

void png_read_from_memory(png_structp png, png_bytep out, size_t len) {
  auto* job = static_cast<PngReadJob*>(png_get_io_ptr(png));
  if (len > job->size - job->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, job->data + job->pos, len);
  job->pos += len;
}

// Returns true when the pixels are in job->raw; false with job->code/message set otherwise.
// A size violation is reported as kTooLarge with an empty message (the caller words it).
bool run_png_read(PngReadJob* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  png_set_read_fn(job->png, job, png_read_from_memory);
  png_set_user_limits(job->png, 0x7fffffffu, 0x7fffffffu);  // our own limits apply below
  png_read_info(job->png, job->info);

  png_uint_32 w = 0, h = 0;
  int depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(job->png, job->info, &w, &h, &depth, &color_type, &interlace, nullptr, nullptr);
  job->width = w;
  job->height = h;
  if (w > kMaxImageSide || h > kMaxImageSide || uint64_t{w} * h > kMaxImagePixels) {
    job->code = ImageErrorCode::kTooLarge;
    return false;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
  if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(job->png);
  if (png_get_valid(job->png, job->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(job->png);
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(job->png);
  png_read_update_info(job->png, job->info);
  job->channels = png_get_channels(job->png, job->info);
  job->depth = png_get_bit_depth(job->png, job->info);
  job->stride = png_get_rowbytes(job->png, job->info);
  if (job->channels < 1 || job->channels > 4 || (job->depth != 8 && job->depth != 16) ||
      job->stride < size_t{w} * job->channels * (job->depth / 8)) {
    job->code = ImageErrorCode::kUnsupported;
    std::snprintf(job->message, sizeof(job->message), "unexpected PNG layout");
    return false;
  }
  try {
    job->raw.resize(job->stride * h);
    job->rows.resize(h);
  } catch (const std::bad_alloc&) {
    job->code = ImageErrorCode::kTooLarge;
    std::snprintf(job->message, sizeof(job->message), "out of memory");
    return false;
  }
  for (png_uint_32 y = 0; y < h; ++y) job->rows[y] = job->raw.data() + size_t{y} * job->stride;
  png_read_image(job->png, job->rows.data());
  png_read_end(job->png, nullptr);  // checks the trailing chunks' CRCs and finds truncation
  return true;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& name) {
  PngReadJob job;
  job.data = data;
  job.size = size;
  job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
  if (!job.png) fail(ImageErrorCode::kTooLarge, name, "cannot read: out of memory");
  job.info = png_create_info_struct(job.png);
  bool ok = false;
  if (job.info) ok = run_png_read(&job);
  png_destroy_read_struct(&job.png, job.info ? &job.info : nullptr, nullptr);
  if (!ok) {
    if (job.code == ImageErrorCode::kTooLarge && job.message[0] == '\0')
      check_size(job.width, job.height, name);  // throws the worded error
    fail(job.code, name, std::string("cannot read: corrupt PNG: ") + job.message);
  }
  check_size(job.width, job.height, name);
  return to_rgb8(job.raw.data(), job.stride, int(job.width), int(job.height), job.channels,
                 job.depth, name);
}

struct PngWriteJob {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const Image* image = nullptr;
  std::vector<uint8_t> out;
  std::vector<uint8_t> gray_row;  // one row of R samples, for a gray image
  bool out_of_memory = false;
  char message[256] = {};
};

void png_write_on_error(png_structp png, png_const_charp msg) {
  auto* job = static_cast<PngWriteJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof(job->message), "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void png_write_to_memory(png_structp png, png_bytep data, size_t len) {
  auto* job = static_cast<PngWriteJob*>(png_get_io_ptr(png));
  try {
    job->out.insert(job->out.end(), data, data + len);
  } catch (...) {
    job->out_of_memory = true;
  }
  if (job->out_of_memory) png_error(png, "out of memory");  // outside the catch block
}

void png_flush_noop(png_structp) {}

bool run_png_write(PngWriteJob* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  const Image& img = *job->image;
  png_set_write_fn(job->png, job, png_write_to_memory, png_flush_noop);
  png_set_IHDR(job->png, job->info, png_uint_32(img.width), png_uint_32(img.height), 8,
               img.gray ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(job->png, job->info);
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* row = img.rgb.data() + size_t(y) * img.width * 3;
    if (img.gray) {
      for (int x = 0; x < img.width; ++x) job->gray_row[size_t(x)] = row[3 * x];
      row = job->gray_row.data();
    }
    png_write_row(job->png, row);
  }
  png_write_end(job->png, nullptr);
  return true;
}

std::vector<uint8_t> encode_png(const Image& img, const std::string& path) {
  PngWriteJob job;
  job.image = &img;
  if (img.gray) job.gray_row.resize(size_t(img.width));
  job.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, png_write_on_error,
                                    png_on_warning);
  if (!job.png) fail(ImageErrorCode::kWriteFailed, path, "cannot write: out of memory");
  job.info = png_create_info_struct(job.png);
  bool ok = false;
  if (job.info) ok = run_png_write(&job);
  png_destroy_write_struct(&job.png, job.info ? &job.info : nullptr);
  if (!ok)
    fail(ImageErrorCode::kWriteFailed, path, std::string("cannot write PNG: ") + job.message);
  return std::move(job.out);
}

// ---------------------------------------------------------------------------------------------
// PPM / PGM (binary)
// ---------------------------------------------------------------------------------------------

class PnmHeaderReader {
 public:
  PnmHeaderReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // Next decimal field after whitespace and comments; false if missing or absurdly long.
  bool number(uint64_t* value) {
    skip_space_and_comments();
    if (pos_ >= size_ || !std::isdigit(data_[pos_])) return false;
    uint64_t v = 0;
    int digits = 0;
    while (pos_ < size_ && std::isdigit(data_[pos_])) {
      if (++digits > 10) return false;
      v = v * 10 + (data_[pos_++] - '0');
    }
    *value = v;
    return true;
  }
  // The single whitespace byte that separates maxval from the raster.
  bool raster_separator() {
    if (pos_ >= size_ || !std::isspace(data_[pos_])) return false;
    ++pos_;
    return true;
  }
  size_t pos() const { return pos_; }
  void skip(size_t n) { pos_ += n; }

 private:
  void skip_space_and_comments() {
    while (pos_ < size_) {
      if (std::isspace(data_[pos_])) {
        ++pos_;
      } else if (data_[pos_] == '#') {
        while (pos_ < size_ && data_[pos_] != '\n' && data_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

Image decode_pnm(const uint8_t* data, size_t size, const std::string& name) {
  const char kind = char(data[1]);
  if (kind != '5' && kind != '6')
    fail(ImageErrorCode::kUnsupported, name,
         std::string("cannot read: unsupported netpbm variant P") + kind +
             " (only binary P5 PGM and P6 PPM)");
  PnmHeaderReader r(data, size);
  r.skip(2);
  uint64_t w = 0, h = 0, maxval = 0;
  if (!r.number(&w) || !r.number(&h) || !r.number(&maxval) || !r.raster_separator())
    fail(ImageErrorCode::kCorrupt, name, "cannot read: corrupt PPM/PGM header");
  if (maxval < 1 || maxval > 65535)
    fail(ImageErrorCode::kCorrupt, name,
         "cannot read: PPM/PGM maxval " + std::to_string(maxval) + " outside 1..65535");
  check_size(w, h, name);
  const int channels = kind == '6' ? 3 : 1;
  const int bytes_per_sample = maxval > 255 ? 2 : 1;
  const size_t stride = size_t(w) * channels * bytes_per_sample;
  if (size - r.pos() < stride * h)
    fail(ImageErrorCode::kCorrupt, name, "cannot read: truncated PPM/PGM data");
  const uint8_t* raster = data + r.pos();
  if (maxval == 255 || maxval == 65535)
    return to_rgb8(raster, stride, int(w), int(h), channels, bytes_per_sample * 8, name);

  // Other maxvals: rescale sample by sample (values above maxval saturate).
  Image img;
  img.width = int(w);
  img.height = int(h);
  img.rgb.resize(size_t(w) * h * 3);
  const uint32_t mv = uint32_t(maxval);
  for (size_t y = 0; y < h; ++y) {
    const uint8_t* row = raster + y * stride;
    for (size_t x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        const size_t i = x * channels + (channels == 3 ? c : 0);
        const uint32_t v = bytes_per_sample == 2 ? (uint32_t{row[2 * i]} << 8 | row[2 * i + 1])
                                                 : row[i];
        img.rgb[(y * w + x) * 3 + c] = to8(v, mv);
      }
    }
  }
  return img;
}

// P6, or P5 (one gray sample per pixel, from R) for a gray image.
std::vector<uint8_t> encode_ppm(const Image& img) {
  const std::string header = std::string(img.gray ? "P5" : "P6") + "\n" +
                             std::to_string(img.width) + " " + std::to_string(img.height) +
                             "\n255\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  if (!img.gray) {
    out.insert(out.end(), img.rgb.begin(), img.rgb.end());
  } else {
    out.reserve(out.size() + img.rgb.size() / 3);
    for (size_t i = 0; i < img.rgb.size(); i += 3) out.push_back(img.rgb[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------------------------

Image decode_jpeg_file(const uint8_t* data, size_t size, const std::string& name) {
  lucid::jpeg::DecodedJpeg d;
  std::string why;
  lucid::jpeg::Limits limits;
  limits.max_side = kMaxImageSide;
  limits.max_pixels = kMaxImagePixels;
  const lucid::jpeg::Status s = lucid::jpeg::decode_jpeg(data, size, &d, &why, limits);
  using lucid::jpeg::Status;
  switch (s) {
    case Status::kOk: break;
    case Status::kTooLarge:
    case Status::kOutOfMemory: fail(ImageErrorCode::kTooLarge, name, "too large: " + why);
    case Status::kUnsupported:
      fail(ImageErrorCode::kUnsupported, name, "cannot read: unsupported JPEG: " + why);
    default:
      fail(ImageErrorCode::kCorrupt, name,
           std::string("cannot read: ") + lucid::jpeg::status_str(s) + ": " + why);
  }
  Image img;
  img.width = d.width;
  img.height = d.height;
  img.rgb = std::move(d.rgb);
  img.gray = d.components == 1;
  return img;
}

// ---------------------------------------------------------------------------------------------
// Format detection
// ---------------------------------------------------------------------------------------------

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// Names a few formats we do not read, for a useful message.
const char* foreign_format(const uint8_t* d, size_t n) {
  if (starts_with(d, n, "GIF8", 4)) return "GIF";
  if (starts_with(d, n, "BM", 2)) return "BMP";
  if (n >= 12 && starts_with(d, n, "RIFF", 4) && std::memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
  if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) return "TIFF";
  if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0) return "HEIF/AVIF";
  if (starts_with(d, n, "\xFF\x0A", 2) || starts_with(d, n, "\0\0\0\x0CJXL ", 8)) return "JPEG XL";
  if (starts_with(d, n, "LUCD", 4)) return "a .lucid stream (decode it with 'lucid decode')";
  return nullptr;
}

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0 || !data) fail(ImageErrorCode::kCorrupt, name, "cannot read: empty file");
  if (starts_with(data, size, "\x89PNG\r\n\x1A\n", 8)) return decode_png(data, size, name);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return decode_jpeg_file(data, size, name);
  if (size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7' && std::isspace(data[2]))
    return decode_pnm(data, size, name);
  if (const char* what = foreign_format(data, size))
    fail(ImageErrorCode::kUnsupported, name,
         std::string("cannot read: unsupported image format: ") + what +
             " (convert it to PNG first)");
  fail(ImageErrorCode::kUnsupported, name,
       "cannot read: not a PNG, JPEG, PPM or PGM file");
}

Image read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path, kMaxImageFileBytes);
  return decode_image(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ImageErrorCode::kUnreadable, path, "cannot read: " + errno_text(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0)
    fail(ImageErrorCode::kUnreadable, path, "cannot read: " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) fail(ImageErrorCode::kUnreadable, path, "cannot read: is a directory");
  const auto too_large = [&] {
    fail(ImageErrorCode::kTooLarge, path,
         "too large: file exceeds " + std::to_string(max_bytes) + " bytes");
  };
  std::vector<uint8_t> bytes;
  if (S_ISREG(st.st_mode)) {
    if (uint64_t(st.st_size) > max_bytes) too_large();
    bytes.reserve(size_t(st.st_size));
  }
  uint8_t chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ImageErrorCode::kUnreadable, path, "cannot read: " + errno_text(errno));
    }
    if (n == 0) break;
    if (bytes.size() + size_t(n) > max_bytes) too_large();  // file grew or is not regular
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  return bytes;
}

std::vector<uint8_t> encode_image_for_path(const std::string& path, const Image& image,
                                           int jpeg_quality) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != size_t(image.width) * size_t(image.height) * 3)
    throw std::invalid_argument("write_image: image size and pixel buffer disagree");
  const std::string ext = lower_extension(path);
  if (ext == ".png") return encode_png(image, path);
  if (ext == ".ppm" || ext == ".pgm") return encode_ppm(image);
  if (ext == ".jpg" || ext == ".jpeg") {
    if (jpeg_quality < 1 || jpeg_quality > 100)
      throw std::invalid_argument("write_image: JPEG quality must be 1..100");
    try {
      return lucid::jpeg::encode_jpeg(
          image.rgb.data(), image.width, image.height, jpeg_quality,
          image.gray ? lucid::jpeg::Subsampling::kGray : lucid::jpeg::Subsampling::k420, true,
          false);
    } catch (const std::runtime_error& e) {
      fail(ImageErrorCode::kWriteFailed, path, std::string("cannot write: ") + e.what());
    }
  }
  fail(ImageErrorCode::kUnsupported, path,
       "cannot write: unknown output extension '" + ext +
           "' (use .png, .ppm, .pgm, .jpg or .jpeg)");
}

void reduce_to_luma(std::vector<uint8_t>& rgb) {
  for (size_t i = 0; i + 2 < rgb.size(); i += 3) {
    const float y = 0.299f * rgb[i] + 0.587f * rgb[i + 1] + 0.114f * rgb[i + 2];
    rgb[i] = rgb[i + 1] = rgb[i + 2] = static_cast<uint8_t>(std::clamp(std::lround(y), 0L, 255L));
  }
}

void write_image(const std::string& path, const Image& image, bool overwrite, int jpeg_quality) {
  struct stat st {};
  // Fail before the (possibly slow) encode; write_file_atomic re-checks atomically.
  if (!overwrite && ::lstat(path.c_str(), &st) == 0)
    fail(ImageErrorCode::kExists, path, "already exists; refusing to overwrite it");
  write_file_atomic(path, encode_image_for_path(path, image, jpeg_quality), overwrite);
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes,
                       bool overwrite) {
  struct stat st {};
  if (!overwrite && ::lstat(path.c_str(), &st) == 0)
    fail(ImageErrorCode::kExists, path, "already exists; refusing to overwrite it");
  if (path.empty() || path.back() == '/')
    fail(ImageErrorCode::kWriteFailed, path, "cannot write: not a file name");

  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string prefix =
      (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "." + base +
      ".tmp-" + std::to_string(::getpid()) + "-";

  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = prefix + std::to_string(counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      fail(ImageErrorCode::kWriteFailed, path,
           "cannot write: cannot create a temporary file in " + dir + ": " + errno_text(errno));
  }
  if (fd < 0)
    fail(ImageErrorCode::kWriteFailed, path, "cannot write: no free temporary file name");

  auto abandon = [&](const std::string& why) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(ImageErrorCode::kWriteFailed, path, "cannot write: " + why);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon(errno_text(errno));
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) abandon(errno_text(errno));
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) abandon(errno_text(errno));

  if (overwrite) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) abandon(errno_text(errno));
  } else if (::link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());
  } else if (errno == EEXIST) {
    ::unlink(tmp.c_str());
    fail(ImageErrorCode::kExists, path, "already exists; refusing to overwrite it");
  } else {
    // File systems without hard links (FAT, some FUSE mounts): best-effort check, then rename.
    if (::lstat(path.c_str(), &st) == 0) {
      ::unlink(tmp.c_str());
      fail(ImageErrorCode::kExists, path, "already exists; refusing to overwrite it");
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) abandon(errno_text(errno));
  }
  // Make the new directory entry durable too; failure here does not undo the write.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace lucid::media
