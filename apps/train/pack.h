// Raw training packs: decoded uint8 images (and JPEG training pairs) that lucid-train reads
// with --train-pack / --val-pack instead of image lists, so that a build without any image
// library (LUCID_TRAIN_ONLY, the GPU trainer) can train. data_scripts/expand_pack.py writes
// them from the travelling pack that data_scripts/make_pack.py builds.
//
// Format (little-endian):
//   "LUCIDRAW"            8 bytes
//   u32 version           1
//   u32 kind              1 = images, 2 = JPEG pairs (clean, JPEG-decoded, quality factor)
//   u32 count             number of records
//   u32 info_bytes        length of the info text that follows
//   info                  UTF-8 "key=value" lines: id (names the data, becomes the run's
//                         dataset fingerprint), source (FNV-1a fingerprint of the source photos
//                         as lucid-train computes it for an image list, when the records are
//                         exact crops of them), how the pairs were drawn (low_qf_prob, ...)
//   count records:
//     u32 height, u32 width, u32 qf (0 for images), u32 mode (pairs: 0 single compression,
//         crop on the 8x8 grid; 1 single compression, crop off the grid; 2 double compression)
//     height*width*3 bytes   the (clean) image, planar: R plane, G plane, B plane, rows top down
//     kind 2 only: height*width*3 bytes, the JPEG-decoded image in the same layout
#pragma once

#include <map>
#include <string>
#include <vector>

#include "train_common.h"

namespace lucid::train {

enum class PackKind { kImages = 1, kPairs = 2 };

struct Pack {
  PackKind kind = PackKind::kImages;
  std::map<std::string, std::string> info;
  std::vector<Photo> records;  // Photo::jpeg/qf/mode set for pairs
  // info "source" when present (the records are exact crops of photos whose fingerprint this
  // is), else info "id", else the fingerprint of the records themselves.
  std::string fingerprint;
};

// Reads a pack; records with a side below min_side are left out. Throws std::runtime_error
// naming the file and what is wrong (bad magic, truncated record...).
Pack read_pack(const std::string& path, int min_side);

}  // namespace lucid::train
