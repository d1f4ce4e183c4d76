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
  throw RestorerError(RestorerError::Kind::kModel,
                      weights_path + ": no video restorer network in this build yet (issue 14); the only "
                                     "video restorer is '" + std::string(kIdentityRestorer) + "' (pass-through)");
}

}  // namespace lucid::video_restore
