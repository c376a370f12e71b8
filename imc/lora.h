// imc/lora.h — LoRA adapters on IMC weight layers (ImcLinear, ImcConv2d): the weight a layer's quantizer sees is
// W + A B (RAOQ Eq. 11, after Hu et al. 2021), W frozen, only the low-rank A and B trained.
//
// Shapes. A layer's weight W is (N, ...) with N outputs and K = numel / N inputs per output (a
// linear layer (N, K), a convolution (N, C, kH, kW) as its im2col matrix). In the paper's
// notation W is K x N (Y = X W), so A is (K, r) on the input side and B (r, N) on the output
// side, and the layer adds
//     delta = (alpha / r) (A B)^T, viewed as W's shape,
// before its weight quantizer: the array stores the codes of Q_w(W + delta), one integer map.
//
// Initialisations (Appendix E):
//   hu   A ~ N(0, 1/K), B = 0: delta = 0, the model starts exactly where it was.
//   svd  LoftQ (Li et al. 2023), alternating `rounds` times: Q = Q_w(W - delta) (dequantized),
//        delta = best rank-r approximation of W - Q (truncated SVD); then W := Q, so that the
//        frozen part is the quantized backbone and Q + delta approximates the original W.
//        Through Eq. 11 the layer then computes Q_w(Q + delta), not Q + delta: the paper's point
//        that weight-only SVD initialisation does not carry over to the array (Sec. 3.4).
//   adc_mse (RAOQ Eq. 12) starts as hu and regresses A, B on the ADC error for tau steps: that
//        needs the ADC, so it is a mode of the layers' forward (set_lora_mse below). While armed,
//        an IMC weight layer with an adapter computes on its input X, detached,
//          target = Q_x(X) Q_w(W)                 the exact product: no ADC, no adapter, no noise,
//          Ybar   = Q_A(Q_x(X) Q_w(W + delta))    its array forward (Eq. 11; STE through Q_A, Q_w),
//        keeps mean((Ybar - target)^2) as its objective and passes Ybar on detached: each layer
//        regresses on its own input, as the model runs on the arrays, and no gradient crosses
//        layers. Only A and B are meant to move (the trainer drops the other gradients).
//
// merge_lora folds delta into W (the same float additions as the forward, so a merged model
// computes bit for bit what the adapted one did) and removes the adapters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "imc/adc.h"
#include "layers/module.h"

namespace raoq::imc {

class ImcWeightLayer;

class LoraAdapter : public Module {
 public:
  LoraAdapter(int64_t inputs, int64_t outputs, int64_t rank, double alpha);
  // scale (A B)^T with the shape of the layer's weight (N, ...); graph-connected to A and B.
  Tensor delta(const Shape& weight_shape) const;
  float scale() const { return static_cast<float>(alpha / static_cast<double>(rank)); }
  std::string extra_repr() const override;

  Tensor A;  // (K, r)
  Tensor B;  // (r, N)
  int64_t inputs = 0, outputs = 0, rank = 0;
  double alpha = 0;
};

// A zero adapter of the same shape and scale (the caller then loads values into it).
std::shared_ptr<LoraAdapter> copy_structure(const LoraAdapter& a);
// W + delta for a layer (Eq. 11's argument of Q_w); W itself when it has no adapter.
Tensor adapted_weight(const ImcWeightLayer& layer);
// Registers `adapter` as the layer's child "lora" (parameters <layer>.lora.A, <layer>.lora.B).
void attach_adapter(ImcWeightLayer& layer, std::shared_ptr<LoraAdapter> adapter);
// Folds delta into W and removes the adapter (nothing without one).
void merge_adapter(ImcWeightLayer& layer);

enum class LoraInit { hu, svd, adc_mse };
const char* to_string(LoraInit i);

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 0.0;                     // 0: alpha = rank (scale 1)
  std::vector<std::string> targets{"*"};  // globs over layer paths (quant::path_matches)
  LoraInit init = LoraInit::hu;
  int64_t svd_rounds = 5;                 // svd: LoftQ's alternating rounds
};

// Attaches an adapter to every IMC weight layer whose path matches a target glob, initialised by
// c.init (hu or svd; adc_mse attaches as hu). A glob that matches no array layer is an error
// naming it (`where` starts the message). Returns the paths, in module order.
std::vector<std::string> attach_lora(Module& root, const LoraConfig& c, Generator& gen, const std::string& where);
// merge_lora on every layer that has an adapter; returns their paths.
std::vector<std::string> merge_lora(Module& root);

// svd initialisation of one layer (contract above); returns ||W - Q - delta||_F of the last round.
double lora_svd_init(ImcWeightLayer& layer, int64_t rounds);

// Arms (or disarms) the Eq. 12 mode of every layer with an adapter; returns how many.
int64_t set_lora_mse(Module& root, bool on);
bool lora_mse_armed(Module& root);  // some layer is armed
// After a forward with the layers armed: the sum of their objectives (graph-connected to A, B)
// and each layer's value, in module order.
struct LoraMseObjective {
  Tensor total;
  std::vector<std::pair<std::string, double>> per_layer;
};
LoraMseObjective lora_mse_objective(Module& root);

// The forward of an armed layer (contract above): `array` is the layer's array path (x, weight
// values, hardware, observed by statistics and noise). Returns Ybar, detached.
using ArrayPath = std::function<Tensor(const Tensor& x, const Tensor& w, const AdcConfig& c, bool observed)>;
Tensor lora_mse_forward(ImcWeightLayer& layer, const Tensor& x, const ArrayPath& array);

// Trainable-parameter bookkeeping for Table 4: per layer, the weight's elements and the adapter's.
struct LoraCount {
  std::string path;
  int64_t weight = 0;   // elements of W
  int64_t adapter = 0;  // r (K + N), 0 without an adapter
};
std::vector<LoraCount> lora_counts(Module& root);

}  // namespace raoq::imc
