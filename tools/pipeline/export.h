// tools/pipeline/export.h — a trained model as IMC hardware would be programmed with it (`raoq
// export`), and the integer reference that runs such an export on its own (`raoq run-export`).
// The files and every field are described in docs/export.md (format "raoq-export", version 1):
//
//   DIR/manifest.json       the layers in the order they run; for each array layer its geometry,
//                           quantization, input map, hardware with the ADC step D, and where each of
//                           its arrays sits (row tile, column group, the reduction rows and the
//                           output columns it holds)
//   DIR/tensors.safetensors each array's weight codes as I8, rows x columns as the array holds them
//                           (element [r, c] = wq[n0 + c, k0 + r]); the scales s_x, beta, s_w and
//                           bias; the digital layers' weights and statistics as F32
//
// Exportable: models whose forward runs their leaf layers one after the other (cnn-small, mlp),
// array layers in direct or bit_sliced mapping without analog noise; anything else is a one-line
// error naming the model or the layer.
//
// The reference (ExportedModel) reads only the export. Per array layer it takes the input codes
// xs = gain * xq - shift (quant/lsq.h, with the exported scales), sums every array's column sums
// in int32, converts each with the ADC (imc/adc.h, Eq. 2), adds the tiles' codes, scales by D and
// applies the digital remainder (quant/dequantize.h: s_x s_w ((acc + shift S) / gain) + beta s_w S
// + bias); the digital layers are raoq's own layers with the exported weights. It gives raoq's
// ADC codes bit for bit and its logits (tests/tools/test_export.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "core/tensor.h"
#include "imc/array_product.h"
#include "layers/module.h"

namespace raoq::tools {

constexpr int kExportVersion = 1;

struct ExportSummary {
  int64_t layers = 0, array_layers = 0, arrays = 0;
  int64_t code_bytes = 0;      // the arrays' weight codes, one byte each
  int64_t manifest_bytes = 0, tensor_file_bytes = 0;
};

// Writes DIR (created if needed; each of its two files replaced atomically, the tensors first: a
// crash between them leaves the old manifest, which the reader then finds inconsistent) from `model`, converted as
// its adc stage left it. model_json: the resolved model description; data_json: the run's resolved
// data config (the default test data of run-export); input_shape: one example's shape (C, H, W);
// normalize_mean/std: the data's per-channel normalisation (empty: none).
// Throws raoq::Error "export: ..." for a model or layer it cannot describe.
ExportSummary write_export(Module& model, const Json& model_json, const Json& data_json, const Shape& input_shape,
                           const std::vector<double>& normalize_mean, const std::vector<double>& normalize_std,
                           const std::string& dir);

// The ADC codes of one array layer in one forward: [stream][tile][pair][row][column] with stream
// the image (a convolution) or 0 (a linear layer), pair the (input slice, weight slice) pair
// i * weight_slices + j (0 in direct mapping), row the output position or the input row.
struct LayerCodes {
  std::string path;
  int64_t streams = 0, tiles = 0, pairs = 0, rows = 0, cols = 0;
  std::vector<int8_t> codes;
  void reset(int64_t s, int64_t t, int64_t p, int64_t r, int64_t c);
};

// Records raoq's own ADC codes of one IMC layer (imc::ImcLayer::tile_observer), in LayerCodes's
// layout: every tile's column sums are converted with Eq. 2 as the array does. Sized before the
// forward (reset); observe() then writes disjoint blocks from worker threads.
class CodeRecorder : public imc::TileObserver {
 public:
  explicit CodeRecorder(int ba) : ba_(ba) {}
  void observe(const imc::TileView& view) override;
  LayerCodes codes;

 private:
  int ba_;
};

// An export read back: a Module whose forward is the integer reference. Throws raoq::Error naming
// the file and what is wrong for a missing or malformed export, or one of another version.
class ExportedModel : public Module {
 public:
  static std::shared_ptr<ExportedModel> load(const std::string& dir);
  Tensor forward(const Tensor& x) override;
  // The last forward's ADC codes, one entry per array layer in order (only while recording).
  bool record_codes = false;
  std::vector<LayerCodes> last_codes;

  Json manifest;
  Shape input_shape;
  std::vector<double> normalize_mean, normalize_std;

  struct Step;  // one layer (export.cpp)
  std::vector<std::shared_ptr<Step>> steps;
  ExportedModel() : Module("ExportedModel") {}
};

}  // namespace raoq::tools
