// imc/lora.cpp — LoRA adapters, attaching, merging, the LoftQ-style svd initialisation and the
// parameter counts (contract in lora.h).
#include "imc/lora.h"

#include <Eigen/SVD>
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "imc/imc_layer.h"
#include "imc/imc_model.h"
#include "layers/init.h"
#include "quant/quantize_model.h"

namespace raoq::imc {

LoraAdapter::LoraAdapter(int64_t k, int64_t n, int64_t r, double a)
    : Module("LoraAdapter"), inputs(k), outputs(n), rank(r), alpha(a > 0 ? a : static_cast<double>(r)) {
  RAOQ_CHECK(k >= 1 && n >= 1 && r >= 1, "LoraAdapter: rank ", r, " on a ", k, " x ", n, " weight");
  RAOQ_CHECK(r <= std::min(k, n), "LoraAdapter: rank ", r, " exceeds min(K, N) = ", std::min(k, n),
             " of the ", k, " x ", n, " weight (a full-rank update is no low-rank adapter)");
  A = register_parameter("A", Tensor::zeros({k, r}));
  B = register_parameter("B", Tensor::zeros({r, n}));
}

Tensor LoraAdapter::delta(const Shape& weight_shape) const {
  // (A B)^T: (N, K), then the weight's shape. The scale multiplies once, after the product.
  const Tensor ab = ops::matmul(A, B);  // (K, N)
  return ops::reshape(ops::scale(ops::transpose(ab, 0, 1), scale()), weight_shape);
}

std::string LoraAdapter::extra_repr() const {
  std::ostringstream os;
  os << "K=" << inputs << ", N=" << outputs << ", rank=" << rank << ", alpha=" << alpha;
  return os.str();
}

std::shared_ptr<LoraAdapter> copy_structure(const LoraAdapter& a) {
  return std::make_shared<LoraAdapter>(a.inputs, a.outputs, a.rank, a.alpha);
}

const char* to_string(LoraInit i) {
  switch (i) {
    case LoraInit::hu: return "hu";
    case LoraInit::svd: return "svd";
    case LoraInit::adc_mse: return "adc_mse";
  }
  return "?";
}

Tensor adapted_weight(const ImcWeightLayer& layer) {
  const Tensor& w = layer.layer_weight();
  if (!layer.lora) return w;
  return ops::add(w, layer.lora->delta(w.shape()));
}

void attach_adapter(ImcWeightLayer& layer, std::shared_ptr<LoraAdapter> adapter) {
  Module& m = layer.as_module();
  RAOQ_CHECK(!layer.lora, "attach_lora: ", m.label(), " already has an adapter (merge it first)");
  const int64_t K = layer.reduction_length(), N = layer.output_columns();
  RAOQ_CHECK(adapter->inputs == K && adapter->outputs == N, "attach_lora: an adapter for a ", adapter->inputs, " x ",
             adapter->outputs, " weight does not fit ", m.label(), " (K ", K, ", N ", N, ")");
  layer.lora = m.register_module("lora", std::move(adapter));
}

void merge_adapter(ImcWeightLayer& layer) {
  if (!layer.lora) return;
  {
    autograd::NoGradGuard ng;
    layer.layer_weight().copy_from(adapted_weight(layer));  // the forward's own addition: the same bits
  }
  layer.as_module().unregister_module("lora");
  layer.lora.reset();
}

std::vector<std::string> attach_lora(Module& root, const LoraConfig& c, Generator& gen, const std::string& where) {
  RAOQ_CHECK(c.rank >= 1, where, ": lora.rank must be >= 1 (got ", c.rank, ")");
  RAOQ_CHECK(!c.targets.empty(), where, ": lora.targets is empty (name the layers, e.g. \"*.fc?\")");
  std::vector<std::pair<std::string, ImcWeightLayer*>> layers;
  for (auto& [path, l] : imc_layers(root))
    if (auto* w = dynamic_cast<ImcWeightLayer*>(l)) layers.emplace_back(path, w);
  for (const std::string& glob : c.targets) {
    bool any = false;
    for (const auto& [path, l] : layers) any = any || quant::path_matches(glob, path);
    if (!any) {
      std::string names;
      for (const auto& [path, l] : layers) names += (names.empty() ? "" : ", ") + path;
      throw Error(where + ": lora.targets glob \"" + glob + "\" matches no layer on the arrays (they are: " +
                  (names.empty() ? "none" : names) + ")");
    }
  }
  std::vector<std::string> attached;
  for (const auto& [path, l] : layers) {
    bool hit = false;
    for (const std::string& glob : c.targets) hit = hit || quant::path_matches(glob, path);
    if (!hit) continue;
    const int64_t K = l->reduction_length(), N = l->output_columns();
    auto adapter = std::make_shared<LoraAdapter>(K, N, std::min({c.rank, K, N}), c.alpha);
    {
      autograd::NoGradGuard ng;
      // Hu et al.: A Gaussian, B zero. std 1/sqrt(K) keeps X A at the scale of X's entries.
      adapter->A.copy_from(init::normal({K, adapter->rank}, 0.0f, 1.0f / std::sqrt(static_cast<float>(K)), gen));
    }
    attach_adapter(*l, adapter);
    if (c.init == LoraInit::svd) lora_svd_init(*l, c.svd_rounds);
    attached.push_back(path);
  }
  return attached;
}

std::vector<std::string> merge_lora(Module& root) {
  std::vector<std::string> merged;
  for (auto& [path, l] : imc_layers(root))
    if (auto* w = dynamic_cast<ImcWeightLayer*>(l); w && w->lora) {
      merge_adapter(*w);
      merged.push_back(path);
    }
  return merged;
}

double lora_svd_init(ImcWeightLayer& layer, int64_t rounds) {
  RAOQ_CHECK(layer.lora, "lora_svd_init: ", layer.as_module().label(), " has no adapter");
  RAOQ_CHECK(rounds >= 1, "lora_svd_init: rounds must be >= 1 (got ", rounds, ")");
  autograd::NoGradGuard ng;
  LoraAdapter& a = *layer.lora;
  const Tensor& weight = layer.layer_weight();
  const int64_t N = a.outputs, K = a.inputs, r = a.rank;
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Mat W(N, K), delta = Mat::Zero(N, K), Q(N, K);
  for (int64_t i = 0; i < N * K; ++i) W.data()[i] = weight.data()[i];
  auto dequantized = [&](const Mat& m) {  // Q_w(m) at the layer's weight scale, as values
    Tensor t = Tensor::empty(weight.shape());
    for (int64_t i = 0; i < N * K; ++i) t.data()[i] = static_cast<float>(m.data()[i]);
    const Tensor q = layer.weight_quantizer().forward(t);
    Mat out(N, K);
    for (int64_t i = 0; i < N * K; ++i) out.data()[i] = q.data()[i];
    return out;
  };
  Eigen::VectorXd sigma;
  Mat U, V;
  for (int64_t t = 0; t < rounds; ++t) {
    Q = dequantized(W - delta);
    Eigen::BDCSVD<Mat> svd(W - Q, Eigen::ComputeThinU | Eigen::ComputeThinV);
    sigma = svd.singularValues().head(r);
    U = svd.matrixU().leftCols(r);
    V = svd.matrixV().leftCols(r);
    delta = U * sigma.asDiagonal() * V.transpose();
  }
  // delta (N, K) = U S V^T = scale (A B)^T  =>  A = V sqrt(S / scale), B = sqrt(S / scale) U^T.
  const Eigen::VectorXd root = (sigma / static_cast<double>(a.scale())).cwiseSqrt();
  const Mat A = V * root.asDiagonal(), B = root.asDiagonal() * U.transpose();
  for (int64_t i = 0; i < K * r; ++i) a.A.data()[i] = static_cast<float>(A.data()[i]);
  for (int64_t i = 0; i < r * N; ++i) a.B.data()[i] = static_cast<float>(B.data()[i]);
  for (int64_t i = 0; i < N * K; ++i) weight.data()[i] = static_cast<float>(Q.data()[i]);  // the frozen backbone
  return (W - Q - delta).norm();
}

int64_t set_lora_mse(Module& root, bool on) {
  int64_t n = 0;
  for (auto& [path, l] : imc_layers(root))
    if (auto* w = dynamic_cast<ImcWeightLayer*>(l); w && w->lora) {
      w->lora_mse = on;
      w->lora_objective = Tensor();
      ++n;
    }
  return n;
}

bool lora_mse_armed(Module& root) {
  for (auto& [path, l] : imc_layers(root))
    if (auto* w = dynamic_cast<ImcWeightLayer*>(l); w && w->lora && w->lora_mse) return true;
  return false;
}

LoraMseObjective lora_mse_objective(Module& root) {
  LoraMseObjective o;
  for (auto& [path, l] : imc_layers(root)) {
    auto* w = dynamic_cast<ImcWeightLayer*>(l);
    if (!w || !w->lora || !w->lora_mse) continue;
    RAOQ_CHECK(w->lora_objective.defined(), "lora_mse_objective: ", w->as_module().label(),
               " is armed but ran no forward since (call the model first)");
    o.per_layer.emplace_back(path, static_cast<double>(w->lora_objective.item()));
    o.total = o.total.defined() ? ops::add(o.total, w->lora_objective) : w->lora_objective;
  }
  RAOQ_CHECK(o.total.defined(), "lora_mse_objective: no layer is armed (set_lora_mse)");
  return o;
}

Tensor lora_mse_forward(ImcWeightLayer& layer, const Tensor& x, const ArrayPath& array) {
  const Tensor xd = x.detach();  // this layer's regression on its own input: nothing flows back past it
  Tensor target;
  {
    autograd::NoGradGuard ng;
    AdcConfig exact = layer.layer_config();
    exact.enabled = false, exact.weight_noise = exact.output_noise = 0.0f;  // the ideal product
    target = array(xd, layer.layer_weight(), exact, false);
  }
  const Tensor y = array(xd, adapted_weight(layer), layer.layer_config(), true);
  layer.lora_objective = ops::mse_loss(y, target);
  return y.detach();
}

std::vector<LoraCount> lora_counts(Module& root) {
  std::vector<LoraCount> counts;
  for (auto& [path, l] : imc_layers(root))
    if (auto* w = dynamic_cast<ImcWeightLayer*>(l))
      counts.push_back({path, w->layer_weight().numel(), w->lora ? w->lora->A.numel() + w->lora->B.numel() : 0});
  return counts;
}

}  // namespace raoq::imc
