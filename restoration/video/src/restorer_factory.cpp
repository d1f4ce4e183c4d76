#include "lucid/video_restore/restorer_factory.h"

#include <stdexcept>

#include "lucid/models/model_files.h"

namespace lucid::video_restore {

namespace {

bool valid_device(const std::string& d) {
  if (d == "cpu" || d == "cuda") return true;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5 || d.size() > 8) return false;
  return d.find_first_not_of("0123456789", 5) == std::string::npos;
}

// The pass-through, with a declared window: stateless, so every stream could share one, but each
// gets its own as a network's would.
class IdentityModel : public RestorerModel {
 public:
  explicit IdentityModel(TemporalWindow w) : window_(w) {}
  std::string name() const override { return kIdentityRestorer; }
  std::string fingerprint() const override {
    return std::string(kIdentityRestorer) + ":" + std::to_string(window_.behind) + "," +
           std::to_string(window_.ahead) + "," + std::to_string(window_.far_ahead);
  }
  TemporalWindow window() const override { return window_; }
  std::unique_ptr<FrameRestorer> make_stream_restorer(const std::string& /*codec*/) const override {
    return std::make_unique<IdentityRestorer>(window_);
  }

 private:
  TemporalWindow window_;
};

// The trained network: one DiqpModel (weights on a device) shared by every stream's restorer.
class NetworkModel : public RestorerModel {
 public:
  explicit NetworkModel(std::shared_ptr<const DiqpModel> m) : model_(std::move(m)) {}
  std::string name() const override { return model_->model_id(); }
  std::string fingerprint() const override { return model_->model_id() + "@" + model_->weight_hash(); }
  TemporalWindow window() const override { return model_->window(); }
  std::unique_ptr<FrameRestorer> make_stream_restorer(const std::string& /*codec: frames carry qp_scale*/) const override {
    return std::make_unique<DiqpRestorer>(model_);
  }

 private:
  std::shared_ptr<const DiqpModel> model_;
};

}  // namespace

std::shared_ptr<const RestorerModel> load_restorer(const std::string& weights_path, const std::string& device) {
  if (!valid_device(device))
    throw RestorerError(RestorerError::Kind::kDevice, "device '" + device + "': expected cpu, cuda or cuda:N");
  if (weights_path.empty() || weights_path == kIdentityRestorer) return std::make_shared<IdentityModel>(TemporalWindow{});
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
    return std::make_shared<IdentityModel>(TemporalWindow{v[0], v[1], v[2]});
  }
  std::string path = weights_path;
  if (weights_path == kDefaultRestorer) {
    try {
      path = models::find_model_file(kDefaultRestorerFile);
    } catch (const std::runtime_error& e) {
      throw RestorerError(RestorerError::Kind::kModel, e.what());
    }
  }
  return std::make_shared<NetworkModel>(std::make_shared<DiqpModel>(path, device));
}

std::shared_ptr<FrameRestorer> make_restorer(const std::string& weights_path, const std::string& device,
                                             const std::string& codec) {
  return load_restorer(weights_path, device)->make_stream_restorer(codec);
}

}  // namespace lucid::video_restore
