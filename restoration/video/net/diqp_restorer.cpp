#include "lucid/video_restore/diqp_restorer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>

#include "lucid/models/device.h"
#include "lucid/models/diqp.h"
#include "lucid/models/weights.h"
#include "lucid/video_restore/diqp_tensors.h"

namespace lucid::video_restore {

namespace F = torch::nn::functional;
using Kind = RestorerError::Kind;

static_assert(static_cast<int>(QpScale::kH26x) == static_cast<int>(models::QpScale::kH26x) &&
              static_cast<int>(QpScale::kAv1) == static_cast<int>(models::QpScale::kAv1) &&
              static_cast<int>(QpScale::kUnknown) == static_cast<int>(models::QpScale::kUnknown));

struct DiqpModel::Impl {
  torch::Device device{torch::kCPU};
  std::string model_id, config_text, weight_hash;
  models::DiqpConfig cfg;
  mutable models::Diqp net{nullptr};  // forward() under InferenceMode changes nothing: shared by streams
  // The weights' QP gate (meta "qp_gate" = "LO,HI", QP levels in [0, 1]): how much of the
  // network's change a frame keeps, 0 at or below LO, all of it at or above HI, linear between.
  // Absent: all of it at every QP.
  double gate_lo = 0, gate_hi = 0;
  bool gated = false;
  // A frame without a QP passes through under a gate (the gate was measured on known QPs).
  double strength(double level, models::QpScale scale) const {
    if (!gated) return 1.0;
    return scale == models::QpScale::kUnknown ? 0.0 : models::qp_gate_strength(level, gate_lo, gate_hi);
  }
};


DiqpModel::DiqpModel(const std::string& path, const std::string& device) : impl_(std::make_unique<Impl>()) {
  try {
    impl_->device = models::resolve_device(device);
  } catch (const models::DeviceError& e) {
    throw RestorerError(Kind::kDevice, e.what());
  }
  try {
    const models::ModelFile f = models::load_model_file(path, "diqp", "a video restorer");
    impl_->model_id = f.model_id;
    impl_->config_text = f.config;
    impl_->weight_hash = models::hash_hex(f.weights.hash);
    impl_->net = models::build_model<models::Diqp>(f, path, &impl_->cfg);
    if (const auto it = f.weights.meta.find("qp_gate"); it != f.weights.meta.end()) {
      if (!models::parse_qp_gate(it->second, &impl_->gate_lo, &impl_->gate_hi))
        throw RestorerError(Kind::kModel, path + ": bad qp_gate '" + it->second +
                                              "' (expected LO,HI with 0 <= LO < HI <= 1)");
      impl_->gated = true;
    }
  } catch (const models::WeightError& e) {
    throw RestorerError(Kind::kModel, e.what());
  }
  impl_->net->to(impl_->device);
}

DiqpModel::~DiqpModel() = default;
const std::string& DiqpModel::model_id() const { return impl_->model_id; }
const std::string& DiqpModel::weight_hash() const { return impl_->weight_hash; }
const std::string& DiqpModel::config() const { return impl_->config_text; }
std::string DiqpModel::device() const { return impl_->device.str(); }
TemporalWindow DiqpModel::window() const {
  return TemporalWindow{impl_->cfg.behind, impl_->cfg.ahead, impl_->cfg.far_ahead};
}
double DiqpModel::strength(double qp, int qp_scale) const {
  const auto scale = static_cast<models::QpScale>(qp_scale);
  return impl_->strength(models::qp_level(qp, scale), scale);
}

// The look-around context and far-frame weight of recent whole frames, keyed by the frame's
// address, index, pts and a sample of its pixels (streams sharing the restorer hold different
// frames; the sample guards against a freed frame's address being reused).
struct DiqpRestorer::State {
  struct Entry {
    const Frame* frame = nullptr;
    int64_t index = -1, pts = 0;
    uint64_t sample = 0;
    torch::Tensor context;  // [1, 3, ch, cw] on the model's device
    double far_w = 0;
  };
  std::mutex mu;
  std::deque<Entry> recent;  // at most kKeep
  static constexpr size_t kKeep = 8;
};

namespace {
uint64_t pixel_sample(const Frame& f) {
  uint64_t h = 1469598103934665603ULL;
  const auto& p = f.planes[0];
  const size_t step = std::max<size_t>(1, p.size() / 61);
  for (size_t i = 0; i < p.size(); i += step) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}
}  // namespace

DiqpRestorer::DiqpRestorer(std::shared_ptr<const DiqpModel> model)
    : model_(std::move(model)), state_(std::make_unique<State>()) {
  if (!model_) throw RestorerError(Kind::kModel, "video restorer: no model");
}
DiqpRestorer::~DiqpRestorer() = default;
std::string DiqpRestorer::name() const { return model_->model_id(); }
TemporalWindow DiqpRestorer::window() const { return model_->window(); }

void DiqpRestorer::restore(const RestoreInput& in, Frame& out) {
  const auto& m = model_->impl();
  const models::DiqpConfig& cfg = m.cfg;
  c10::InferenceMode guard;
  const Frame& center = *in.center;
  const size_t window = in.behind.size() + 1 + in.ahead.size();
  if (static_cast<int>(window) != cfg.frames())
    throw RestorerError(Kind::kInput, "video restorer: window of " + std::to_string(window) +
                                          " frames, the model needs " + std::to_string(cfg.frames()));
  const auto scale = center.qp ? static_cast<models::QpScale>(center.qp_scale) : models::QpScale::kUnknown;
  const double level = models::qp_level(in.qp, scale);
  const double keep = m.strength(level, scale);
  const int H = center.format.height, W = center.format.width;
  const int Hp = (H + models::DiqpConfig::kMultiple - 1) / models::DiqpConfig::kMultiple * models::DiqpConfig::kMultiple;
  const int Wp = (W + models::DiqpConfig::kMultiple - 1) / models::DiqpConfig::kMultiple * models::DiqpConfig::kMultiple;
  if (keep <= 0) {  // gated off at this QP: the decoded frame as it is (an exact round trip)
    planes_to_frame(frame_to_planes(center, Hp, Wp), center, out);
    return;
  }
  const Frame& whole = in.whole_center ? *in.whole_center : center;
  const uint64_t sample = pixel_sample(whole);
  torch::Tensor context;
  double far_w = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& e : state_->recent)
      if (e.frame == &whole && e.index == whole.index && e.pts == whole.pts && e.sample == sample) {
        context = e.context;
        far_w = e.far_w;
      }
  }
  if (!context.defined()) {
    const torch::Tensor thumb = frame_thumbnail(whole, cfg.ctx_size);  // [3, h, w]
    context = thumb.unsqueeze(0).to(m.device);
    const Frame* far = in.whole_far_ahead ? in.whole_far_ahead : in.far_ahead;
    if (far && cfg.far_ahead > 0) {
      const torch::Tensor ft = frame_thumbnail(*far, cfg.ctx_size);
      far_w = models::far_weight(cfg, static_cast<int>(far->index - whole.index), thumb[0], ft[0]);
    }
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->recent.push_back({&whole, whole.index, whole.pts, sample, context, far_w});
    if (state_->recent.size() > State::kKeep) state_->recent.pop_front();
  }
  std::vector<torch::Tensor> frames;
  for (auto it = in.behind.rbegin(); it != in.behind.rend(); ++it) frames.push_back(frame_to_planes(**it, Hp, Wp));
  frames.push_back(frame_to_planes(center, Hp, Wp));
  for (const Frame* f : in.ahead) frames.push_back(frame_to_planes(*f, Hp, Wp));
  models::DiqpImpl::Input x;
  x.frames = torch::stack(frames).unsqueeze(0).to(m.device);
  const Frame* far = in.far_ahead ? in.far_ahead : &center;
  x.far = frame_to_planes(*far, Hp, Wp).unsqueeze(0).to(m.device);
  x.far_w = torch::full({1}, far_w, torch::TensorOptions().device(m.device));
  x.level = torch::full({1}, level, torch::TensorOptions().device(m.device));
  x.scale = torch::full({1}, static_cast<int64_t>(scale), torch::TensorOptions().dtype(torch::kLong).device(m.device));
  x.context = context;
  torch::Tensor y = m.net->forward(x).squeeze(0).to(torch::kCPU);
  if (keep < 1) {
    const torch::Tensor c = frames[in.behind.size()];
    y = c + keep * (y - c);
  }
  planes_to_frame(y, center, out);
}

}  // namespace lucid::video_restore
