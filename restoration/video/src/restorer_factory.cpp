#include "lucid/video_restore/restorer_factory.h"

namespace lucid::video_restore {

namespace {
bool valid_device(const std::string& d) {
  if (d == "cpu" || d == "cuda") return true;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5 || d.size() > 8) return false;
  return d.find_first_not_of("0123456789", 5) == std::string::npos;
}
}  // namespace

std::shared_ptr<FrameRestorer> make_restorer(const std::string& weights_path, const std::string& device) {
  if (!valid_device(device))
    throw RestorerError(RestorerError::Kind::kDevice, "device '" + device + "': expected cpu, cuda or cuda:N");
  if (weights_path.empty() || weights_path == kIdentityRestorer) return std::make_shared<IdentityRestorer>();
  const std::string prefix = std::string(kIdentityRestorer) + ":";
  if (weights_path.rfind(prefix, 0) == 0) {
    // identity:B,A,F -- the pass-through with a network's window.
    const std::string spec = weights_path.substr(prefix.size());
    int v[3] = {0, 0, 0};
    size_t pos = 0;
    bool ok = true;
    for (int k = 0; k < 3 && ok; ++k) {
      const size_t end = spec.find(',', pos);
      const std::string item = spec.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      ok = !item.empty() && item.size() <= 2 && item.find_first_not_of("0123456789") == std::string::npos;
      if (ok) v[k] = std::stoi(item);
      ok = ok && v[k] <= 64 && ((k < 2) == (end != std::string::npos));
      pos = end == std::string::npos ? spec.size() : end + 1;
    }
    if (!ok)
      throw RestorerError(RestorerError::Kind::kModel,
                          weights_path + ": expected identity:B,A,F (frames behind, ahead, far look-ahead; 0..64 each)");
    return std::make_shared<IdentityRestorer>(TemporalWindow{v[0], v[1], v[2]});
  }
  throw RestorerError(RestorerError::Kind::kModel,
                      weights_path + ": no video restorer network in this build yet (issue 14); the only "
                                     "video restorer is '" + std::string(kIdentityRestorer) + "' (pass-through)");
}

}  // namespace lucid::video_restore
