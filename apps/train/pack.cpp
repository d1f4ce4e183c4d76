#include "pack.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lucid::train {

namespace {

uint32_t read_u32(std::istream& in) {
  unsigned char b[4];
  in.read(reinterpret_cast<char*>(b), 4);
  return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
}

}  // namespace

Pack read_pack(const std::string& path, int min_side) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open pack " + path);
  auto fail = [&](const std::string& why) {
    return std::runtime_error("pack " + path + ": " + why +
                              " (write packs with data_scripts/expand_pack.py)");
  };
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "LUCIDRAW", 8) != 0) throw fail("not a raw training pack");
  const uint32_t version = read_u32(in), kind = read_u32(in), count = read_u32(in),
                 info_bytes = read_u32(in);
  if (!in) throw fail("truncated header");
  if (version != 1) throw fail("version " + std::to_string(version) + " (this build reads 1)");
  if (kind != 1 && kind != 2) throw fail("unknown kind " + std::to_string(kind));
  if (info_bytes > (1u << 20)) throw fail("info text too long");
  Pack p;
  p.kind = static_cast<PackKind>(kind);
  std::string info(info_bytes, '\0');
  in.read(info.data(), info_bytes);
  if (!in) throw fail("truncated info text");
  std::istringstream lines(info);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (!line.empty() && eq != std::string::npos) p.info[line.substr(0, eq)] = line.substr(eq + 1);
  }
  const int planes = kind == 2 ? 2 : 1;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t h = read_u32(in), w = read_u32(in), qf = read_u32(in), mode = read_u32(in);
    if (!in) throw fail("truncated at record " + std::to_string(i) + " of " + std::to_string(count));
    if (h < 1 || w < 1 || h > 65535 || w > 65535 || qf > 100 || mode > 2)
      throw fail("record " + std::to_string(i) + " has a bad header (" + std::to_string(h) + "x" +
                 std::to_string(w) + ", qf " + std::to_string(qf) + ", mode " +
                 std::to_string(mode) + ")");
    if (kind == 2 && qf < 1) throw fail("pair " + std::to_string(i) + " has no quality factor");
    Photo r;
    r.path = path + "#" + std::to_string(i);
    r.qf = static_cast<int>(qf);
    r.mode = static_cast<int>(mode);
    for (int k = 0; k < planes; ++k) {
      torch::Tensor t = torch::empty({3, int64_t(h), int64_t(w)}, torch::kUInt8);
      in.read(reinterpret_cast<char*>(t.data_ptr<uint8_t>()), std::streamsize(3) * h * w);
      if (!in) throw fail("truncated in record " + std::to_string(i) + " of " + std::to_string(count));
      (k == 0 ? r.rgb : r.jpeg) = t;
    }
    if (static_cast<int>(std::min(h, w)) >= min_side) p.records.push_back(std::move(r));
  }
  if (in.peek() != std::char_traits<char>::eof()) throw fail("bytes after the last record");
  if (p.records.empty())
    throw fail("no record with both sides >= " + std::to_string(min_side) + " (of " +
               std::to_string(count) + ")");
  if (p.info.count("source"))
    p.fingerprint = p.info.at("source");
  else if (p.info.count("id"))
    p.fingerprint = p.info.at("id");
  else
    p.fingerprint = dataset_fingerprint(p.records);
  return p;
}

}  // namespace lucid::train
