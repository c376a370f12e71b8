// tools/pipeline/export.cpp — writing an export, and the integer reference that runs one
// (contract in export.h; the schema in docs/export.md).
#include "tools/pipeline/export.h"

#include <Eigen/Core>
#include <algorithm>
#include <filesystem>
#include <set>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "imc/adc.h"
#include "imc/detail/bit_slice.h"
#include "imc/imc_conv2d.h"
#include "imc/imc_linear.h"
#include "imc/lora.h"
#include "layers/batch_norm2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/max_pool2d.h"
#include "layers/relu.h"
#include "quant/dequantize.h"
#include "quant/lsq.h"
#include "quant/quant_conv2d.h"
#include "quant/quant_linear.h"
#include "tools/pipeline/atomic_file.h"

namespace raoq::tools {
namespace fs = std::filesystem;

void LayerCodes::reset(int64_t s, int64_t t, int64_t p, int64_t r, int64_t c) {
  streams = s, tiles = t, pairs = p, rows = r, cols = c;
  codes.assign(static_cast<size_t>(s * t * p * r * c), 0);
}

void CodeRecorder::observe(const imc::TileView& v) {
  const quant::CodeRange range = imc::adc_codes(ba_);
  RAOQ_CHECK(v.stream < codes.streams && v.tile < codes.tiles && v.pair < codes.pairs &&
                 v.m0 + v.m_count <= codes.rows && v.n_cols == codes.cols,
             "export: the code recorder of ", codes.path, " was sized for another product");
  for (int64_t r = 0; r < v.m_count; ++r)
    for (int64_t n = 0; n < v.n_cols; ++n) {
      const size_t at = static_cast<size_t>(
          (((v.stream * codes.tiles + v.tile) * codes.pairs + v.pair) * codes.rows + v.m0 + r) * codes.cols + n);
      codes.codes[at] = static_cast<int8_t>(imc::adc_convert(v.at(r, n), v.D, range.lo, range.hi));
    }
}

namespace {

// The models whose forward runs their layers one after the other, in the order named_modules
// lists them: the only graph a list of layers describes.
const std::set<std::string> kChainModels = {"cnn-small", "mlp"};

Json conv_json(int64_t in, int64_t out, int64_t kernel, const ops::Conv2dOptions& o) {
  return {{"in_channels", in}, {"out_channels", out}, {"kernel", kernel}, {"stride", o.stride},
          {"padding", o.padding}, {"dilation", o.dilation}, {"groups", o.groups}};
}

Json quant_json(const quant::QuantOptions& q) {
  return {{"bx", q.bx}, {"bw", q.bw}, {"act_signed", q.act_signed}, {"act_offset", q.act_offset},
          {"per_channel", q.per_channel}};
}

struct Writer {
  Json layers = Json::array();
  NamedTensors tensors;
  std::set<std::string> int8;
  ExportSummary summary;

  void add(const std::string& name, const Tensor& t) { tensors.emplace_back(name, t.detach().clone()); }
};

// A module the export writes whole: its state dict under its path, and what rebuilds it.
void add_module(Writer& w, const std::string& path, Module& m, Json entry) {
  entry["path"] = path;
  Json names = Json::array();
  for (const auto& [name, t] : m.state_dict()) {
    w.add(path + "." + name, t);
    names.push_back(name);
  }
  entry["tensors"] = names;
  w.layers.push_back(entry);
}

void add_array_layer(Writer& w, const std::string& path, imc::ImcWeightLayer& l, quant::QuantOptions q, bool conv) {
  const imc::AdcConfig c = l.layer_config();
  RAOQ_CHECK(l.mode == imc::ImcMode::array, "export: layer '", path, "' computes in QAT mode, not on its arrays");
  RAOQ_CHECK(c.weight_noise == 0 && c.output_noise == 0, "export: layer '", path,
             "' has analog noise configured; an export describes the deterministic array");
  RAOQ_CHECK(c.enabled && c.ba <= 8, "export: layer '", path, "' has ", c.enabled ? "ba " + std::to_string(c.ba) : "its ADC bypassed",
             "; an export describes ADCs of at most 8 bits (its codes are compared as bytes)");
  const quant::Quantized wq = l.weight_quantizer().quantize(l.layer_weight());
  const int64_t K = l.reduction_length(), N = l.output_columns();
  const Tensor codes = wq.codes.view_as_shape({N, K});
  quant::ActQuantizer& act = l.activation_quantizer();
  const quant::ShiftMap map = l.input_map();
  const quant::CodeRange xr = act.range(), adc = imc::adc_codes(c.ba);
  Json e = {{"path", path},
            {"op", conv ? "array_conv2d" : "array_linear"},
            {"quant", quant_json(q)},
            {"input_codes", {{"lo", xr.lo}, {"hi", xr.hi}}},
            {"input_map", {{"gain", map.gain}, {"shift", map.shift}}},
            {"K", K},
            {"N", N},
            {"adc", {{"rows", c.rows}, {"cols", c.cols}, {"ba", c.ba}, {"k", c.k}, {"bx", c.bx}, {"bw", c.bw},
                     {"signed_input", c.signed_input}, {"representation", quant::to_string(c.representation)},
                     {"enabled", c.enabled}, {"mapping", imc::to_string(c.mapping)}, {"slice_bits", c.slice_bits},
                     {"D", imc::adc_step(c)}, {"lo", adc.lo}, {"hi", adc.hi}}}};
  // Bit slicing (imc/detail/bit_slice.h): the arrays store the weights' slices; the input codes are
  // sliced as they stream, v = sum_i f_i part_i + offset, the offset added back digitally.
  std::vector<Tensor> wparts{codes};
  std::vector<float> wfactors{1.0f}, xfactors{1.0f};
  float xoffset = 0.0f;
  if (c.mapping == imc::Mapping::bit_sliced) {
    imc::detail::Slices sw = imc::detail::slice_weights(codes, c);
    wparts = std::move(sw.parts), wfactors = std::move(sw.factors);
    const imc::detail::Slices sx = imc::detail::slice_inputs(Tensor::zeros({1}), c);  // factors and offset only
    xfactors = sx.factors, xoffset = sx.offset;
  }
  e["slices"] = {{"input_factors", xfactors}, {"input_offset", xoffset}, {"weight_factors", wfactors}};
  if (conv) {
    auto& cv = dynamic_cast<quant::QuantConv2d&>(l.as_module());
    e["conv"] = conv_json(cv.in_channels, cv.out_channels, cv.kernel_size, cv.options);
  } else {
    auto& li = dynamic_cast<quant::QuantLinear&>(l.as_module());
    e["linear"] = {{"in_features", li.in_features}, {"out_features", li.out_features}};
  }
  // The effective scales the layer computes with (floored, as quantize() uses them).
  w.add(path + ".s_x", quant::scale_floor(act.scale));
  if (act.learn_offset) w.add(path + ".beta", act.beta);
  w.add(path + ".s_w", wq.scale);
  const Tensor& bias = dynamic_cast<Conv2d*>(&l.as_module()) ? dynamic_cast<Conv2d&>(l.as_module()).bias
                                                              : dynamic_cast<Linear&>(l.as_module()).bias;
  if (bias.defined()) w.add(path + ".bias", bias);
  e["tensors"] = {{"s_x", path + ".s_x"}, {"beta", act.learn_offset ? Json(path + ".beta") : Json(nullptr)},
                  {"s_w", path + ".s_w"}, {"bias", bias.defined() ? Json(path + ".bias") : Json(nullptr)}};
  // The arrays: row tile t holds reduction rows [t rows, (t+1) rows), column group g the outputs
  // [g cols, (g+1) cols), weight slice j its slice; element [r, c] of its codes is the slice of
  // wq[n0 + c, k0 + r].
  const int64_t T = imc::row_tiles(c, K), G = imc::column_groups(c, N), J = static_cast<int64_t>(wparts.size());
  Json arrays = Json::array();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t j = 0; j < J; ++j) {
        const int64_t k0 = t * c.rows, k1 = std::min(K, k0 + c.rows), n0 = g * c.cols, n1 = std::min(N, n0 + c.cols);
        const float* part = wparts[static_cast<size_t>(j)].data();
        Tensor block = Tensor::empty({k1 - k0, n1 - n0});
        for (int64_t r = k0; r < k1; ++r)
          for (int64_t n = n0; n < n1; ++n) block.data()[(r - k0) * (n1 - n0) + (n - n0)] = part[n * K + r];
        const std::string name = path + ".arrays.t" + std::to_string(t) + ".g" + std::to_string(g) +
                                 (J > 1 ? ".s" + std::to_string(j) : "");
        w.add(name, block);
        w.int8.insert(name);
        w.summary.code_bytes += block.numel();
        arrays.push_back({{"tensor", name}, {"row_tile", t}, {"column_group", g}, {"weight_slice", j},
                          {"rows", {k0, k1}}, {"cols", {n0, n1}}});
      }
  e["row_tiles"] = T;
  e["column_groups"] = G;
  e["weight_slices"] = J;
  e["arrays"] = arrays;
  w.summary.arrays += T * G * J;
  ++w.summary.array_layers;
  w.layers.push_back(e);
}

// One layer of the chain, or nothing for a container (its children are visited on their own).
// Returns whether `m` was written as a whole (its descendants are then skipped).
bool add_layer(Writer& w, const std::string& path, Module& m) {
  if (auto* l = dynamic_cast<imc::ImcConv2d*>(&m)) return add_array_layer(w, path, *l, l->qopts, true), true;
  if (auto* l = dynamic_cast<imc::ImcLinear*>(&m)) return add_array_layer(w, path, *l, l->qopts, false), true;
  if (auto* c = dynamic_cast<quant::QuantConv2d*>(&m)) {
    Json e = {{"op", "quant_conv2d"}, {"conv", conv_json(c->in_channels, c->out_channels, c->kernel_size, c->options)},
              {"bias", c->bias.defined()}, {"quant", quant_json(c->qopts)}};
    return add_module(w, path, m, e), true;
  }
  if (auto* l = dynamic_cast<quant::QuantLinear*>(&m)) {
    Json e = {{"op", "quant_linear"}, {"linear", {{"in_features", l->in_features}, {"out_features", l->out_features}}},
              {"bias", l->bias.defined()}, {"quant", quant_json(l->qopts)}};
    return add_module(w, path, m, e), true;
  }
  if (auto* c = dynamic_cast<Conv2d*>(&m)) {
    Json e = {{"op", "conv2d"}, {"conv", conv_json(c->in_channels, c->out_channels, c->kernel_size, c->options)},
              {"bias", c->bias.defined()}};
    return add_module(w, path, m, e), true;
  }
  if (auto* l = dynamic_cast<Linear*>(&m)) {
    Json e = {{"op", "linear"}, {"linear", {{"in_features", l->in_features}, {"out_features", l->out_features}}},
              {"bias", l->bias.defined()}};
    return add_module(w, path, m, e), true;
  }
  if (auto* b = dynamic_cast<BatchNorm2d*>(&m))
    return add_module(w, path, m, {{"op", "batch_norm2d"}, {"num_features", b->num_features}, {"eps", b->eps}}), true;
  if (dynamic_cast<ReLU*>(&m)) return add_module(w, path, m, {{"op", "relu"}}), true;
  if (auto* p = dynamic_cast<MaxPool2d*>(&m))
    return add_module(w, path, m, {{"op", "max_pool2d"}, {"kernel", p->kernel_size}, {"stride", p->stride},
                                   {"padding", p->padding}}), true;
  if (dynamic_cast<GlobalAvgPool*>(&m)) return add_module(w, path, m, {{"op", "global_avg_pool"}}), true;
  if (auto* f = dynamic_cast<Flatten*>(&m)) return add_module(w, path, m, {{"op", "flatten"}, {"start_dim", f->start_dim}}), true;
  if (dynamic_cast<Dropout*>(&m)) return add_module(w, path, m, {{"op", "identity"}}), true;  // eval: the identity
  RAOQ_CHECK(!m.named_modules().empty() && m.named_modules().size() > 1, "export: layer '", path, "' (",
             m.type_name(), ") has no export form (the export knows array and quantized convolutions and linears, "
             "convolutions, linears, BatchNorm2d, ReLU, MaxPool2d, GlobalAvgPool, Flatten and Dropout)");
  return false;
}

}  // namespace

ExportSummary write_export(Module& model, const Json& model_json, const Json& data_json, const Shape& input_shape,
                           const std::vector<double>& normalize_mean, const std::vector<double>& normalize_std,
                           const std::string& dir) {
  const std::string name = model_json.value("name", "");
  RAOQ_CHECK(kChainModels.count(name), "export: model '", name, "' does not run its layers one after the other; the ",
             "export describes chain models only (cnn-small, mlp)");
  autograd::NoGradGuard no_grad;
  model.eval();
  imc::merge_lora(model);  // an adapter's W + delta is what the arrays hold
  Writer w;
  std::set<std::string> written;  // paths exported whole: their descendants are inside them
  for (auto& [path, m] : model.named_modules()) {
    if (path.empty()) continue;
    bool inside = false;
    for (const auto& p : written) inside = inside || path.rfind(p + ".", 0) == 0;
    if (inside) continue;
    if (add_layer(w, path, *m)) written.insert(path);
  }
  RAOQ_CHECK(w.summary.array_layers > 0, "export: the model has no layer on the arrays (export an adc stage's checkpoint)");
  w.summary.layers = static_cast<int64_t>(w.layers.size());
  Json manifest = {{"format", "raoq-export"},
                   {"version", kExportVersion},
                   {"schema", "docs/export.md"},
                   {"model", model_json},
                   {"data", data_json},
                   {"input", {{"shape", input_shape}, {"normalize", {{"mean", normalize_mean}, {"std", normalize_std}}}}},
                   {"layers", w.layers},
                   {"totals",
                    {{"layers", w.summary.layers}, {"array_layers", w.summary.array_layers},
                     {"arrays", w.summary.arrays}, {"code_bytes", w.summary.code_bytes}}}};
  std::error_code ec;
  fs::create_directories(dir, ec);
  RAOQ_CHECK(!ec, "export: cannot create '", dir, "' (", ec.message(), ")");
  const std::string tensors = (fs::path(dir) / "tensors.safetensors").string();
  save_safetensors(tensors, w.tensors, {{"format", "raoq-export"}, {"version", std::to_string(kExportVersion)}}, w.int8);
  const std::string text = manifest.dump(2) + "\n";
  write_file_atomic((fs::path(dir) / "manifest.json").string(), text);
  w.summary.manifest_bytes = static_cast<int64_t>(text.size());
  w.summary.tensor_file_bytes = static_cast<int64_t>(fs::file_size(tensors));
  return w.summary;
}

// ---------------------------------------------------------------- the reference

struct ExportedModel::Step {
  virtual ~Step() = default;
  virtual Tensor run(const Tensor& x, ExportedModel& owner) = 0;
};

namespace {

using IntMat = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct ModuleStep : ExportedModel::Step {
  std::shared_ptr<Module> module;
  Tensor run(const Tensor& x, ExportedModel&) override { return module->forward(x); }
};

struct ArrayBlock {
  int64_t k0 = 0, k1 = 0, n0 = 0, n1 = 0, slice = 0;
  IntMat codes;  // (k1 - k0, n1 - n0): weight slice `slice` of those rows and columns
};

struct ArrayStep : ExportedModel::Step {
  std::string path;
  bool conv = false;
  int64_t in = 0, out = 0, kernel = 1, K = 0, N = 0, rows = 0, cols = 0, tiles = 0;
  ops::Conv2dOptions options;
  quant::CodeRange input_codes;
  quant::ShiftMap map;
  imc::AdcConfig hw;  // what the input slicing needs (mapping, slice_bits, bx, representation)
  bool adc_on = true;
  float D = 1, lo = 0, hi = 0;
  std::vector<int64_t> x_factors{1}, w_factors{1};  // slice factors (powers of two); 1 in direct mapping
  float x_offset = 0;                               // bit slicing's digital offset, times the weight sums
  Tensor s_x, beta, s_w, bias, wq;  // wq: (N, C, k, k) or (N, K), assembled from the arrays
  std::vector<ArrayBlock> blocks;   // tile-major, then column groups, then weight slices

  // The input rows X_i (M, K) of every input slice: the arrays' ADC codes, weighted by their
  // slices' factors, summed per output into acc (M, N); the codes into `rec` (stream s) when recording.
  void product(const std::vector<IntMat>& X, float* acc, LayerCodes* rec, int64_t stream) const {
    const int64_t M = X.front().rows(), J = static_cast<int64_t>(w_factors.size());
    std::vector<int64_t> sum(static_cast<size_t>(M * N), 0);
    for (const ArrayBlock& b : blocks) {
      const int64_t t = b.k0 / rows, kt = b.k1 - b.k0, nb = b.n1 - b.n0;
      for (size_t i = 0; i < X.size(); ++i) {
        const IntMat Y = X[i].middleCols(b.k0, kt) * b.codes;  // the array's column sums, in int32
        const int64_t f = x_factors[i] * w_factors[static_cast<size_t>(b.slice)], pair = int64_t(i) * J + b.slice;
        for (int64_t m = 0; m < M; ++m)
          for (int64_t c = 0; c < nb; ++c) {
            const float y = static_cast<float>(Y(m, c));
            const float code = adc_on ? imc::adc_convert(y, D, lo, hi) : y;  // Eq. 2
            sum[static_cast<size_t>(m * N + b.n0 + c)] += f * static_cast<int64_t>(code);
            if (rec)
              rec->codes[static_cast<size_t>((((stream * rec->tiles + t) * rec->pairs + pair) * rec->rows + m) * rec->cols +
                                             b.n0 + c)] = static_cast<int8_t>(code);
          }
      }
    }
    // The weighted codes add up exactly; one multiplication by D reconstructs the product.
    for (int64_t i = 0; i < M * N; ++i)
      acc[i] = adc_on ? static_cast<float>(sum[static_cast<size_t>(i)]) * D : static_cast<float>(sum[static_cast<size_t>(i)]);
  }

  // The input codes as the array is driven with them: each slice's parts (one, the codes, in direct mapping).
  std::vector<Tensor> input_parts(const Tensor& xs) const {
    if (hw.mapping != imc::Mapping::bit_sliced) return {xs};
    return imc::detail::slice_inputs(xs, hw).parts;
  }

  // acc (outer, N, P) += x_offset * S (N, P): bit slicing's offset, added back digitally.
  void add_offset(Tensor& acc, const Tensor& S) const {
    if (x_offset == 0.0f) return;
    const int64_t per = S.numel(), outer = acc.numel() / per;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < per; ++i) acc.data()[o * per + i] += x_offset * S.data()[i];
  }

  Tensor run(const Tensor& x, ExportedModel& owner) override {
    const Tensor xs = quant::lsq_codes(x, s_x, beta, input_codes, quant::Rounding::apply, map.gain, map.shift);
    LayerCodes* rec = nullptr;
    if (owner.record_codes) {
      owner.last_codes.push_back({});
      rec = &owner.last_codes.back();
      rec->path = path;
    }
    const std::vector<Tensor> parts = input_parts(xs);
    const int64_t pairs = static_cast<int64_t>(parts.size() * w_factors.size());
    if (!conv) {
      const int64_t M = xs.numel() / K;
      std::vector<IntMat> X(parts.size(), IntMat(M, K));
      for (size_t p = 0; p < parts.size(); ++p)
        for (int64_t i = 0; i < M * K; ++i) X[p].data()[i] = static_cast<int32_t>(parts[p].data()[i]);
      if (rec) rec->reset(1, tiles, pairs, M, N);
      Tensor acc = Tensor::empty({M, N});
      product(X, acc.data(), rec, 0);
      const Tensor S = quant::window_weight_sums(wq, 1, 1);
      add_offset(acc, S);
      Tensor y = quant::dequantize_product(acc, -1, S, s_x, s_w, beta, bias, map);
      Shape shape = x.shape();
      shape.back() = N;
      return ops::reshape(y, shape);
    }
    RAOQ_CHECK(x.dim() == 4 && x.size(1) == in, "run-export: layer '", printable(path), "' expects (N, ", in, ", H, W), got ",
               shape_str(x.shape()));
    const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
    const int64_t Ho = (H + 2 * options.padding - options.dilation * (kernel - 1) - 1) / options.stride + 1;
    const int64_t Wo = (W + 2 * options.padding - options.dilation * (kernel - 1) - 1) / options.stride + 1;
    const int64_t P = Ho * Wo;
    if (rec) rec->reset(B, tiles, pairs, P, N);
    Tensor acc = Tensor::empty({B, N, Ho, Wo});
    parallel_for(B, [&](int64_t b0, int64_t b1) {
      std::vector<IntMat> X(parts.size(), IntMat(P, K));
      std::vector<float> block(static_cast<size_t>(P * N));
      for (int64_t b = b0; b < b1; ++b) {
        // The patch of output p, rows in (c, i, j) order; a padded position drives no row (0).
        for (size_t s = 0; s < parts.size(); ++s)
          for (int64_t ho = 0; ho < Ho; ++ho)
            for (int64_t wo = 0; wo < Wo; ++wo)
              for (int64_t c = 0; c < in; ++c)
                for (int64_t i = 0; i < kernel; ++i)
                  for (int64_t j = 0; j < kernel; ++j) {
                    const int64_t h = ho * options.stride - options.padding + i * options.dilation;
                    const int64_t v = wo * options.stride - options.padding + j * options.dilation;
                    const bool inside = h >= 0 && h < H && v >= 0 && v < W;
                    X[s](ho * Wo + wo, (c * kernel + i) * kernel + j) =
                        inside ? static_cast<int32_t>(parts[s].data()[((b * in + c) * H + h) * W + v]) : 0;
                  }
        product(X, block.data(), rec, b);
        for (int64_t p = 0; p < P; ++p)
          for (int64_t n = 0; n < N; ++n) acc.data()[(b * N + n) * P + p] = block[static_cast<size_t>(p * N + n)];
      }
    });
    const Tensor S = quant::window_weight_sums(wq, H, W, options);
    add_offset(acc, S);
    return quant::dequantize_product(acc, 1, S, s_x, s_w, beta, bias, map);
  }
};

// Reads the manifest's layer entries into steps, checking every field and tensor.
class Reader {
 public:
  Reader(std::string dir, const SafetensorsFile& file)
      : dir_(std::move(dir)), file_(file), what_("export: '" + dir_ + "/manifest.json'") {}

  std::shared_ptr<ExportedModel::Step> step(const Json& entry, size_t i) {
    const std::string at = join_index("layers", i);
    JsonFields f(entry, at, what_);
    const std::string op = f.choice("op", std::nullopt,
                                    {"array_conv2d", "array_linear", "quant_conv2d", "quant_linear", "conv2d", "linear",
                                     "batch_norm2d", "relu", "max_pool2d", "global_avg_pool", "flatten", "identity"});
    const std::string path = f.string("path", std::nullopt);
    if (op == "array_conv2d" || op == "array_linear") return array_step(f, op == "array_conv2d", path, at);
    auto s = std::make_shared<ModuleStep>();
    if (op == "quant_conv2d" || op == "conv2d") {
      JsonFields c(f.object("conv", true), f.key_path("conv"), what_);
      const auto [in, out, k, o] = conv_fields(c);
      const bool bias = f.boolean("bias", std::nullopt);
      if (op == "conv2d") s->module = std::make_shared<Conv2d>(in, out, k, o, bias);
      else s->module = std::make_shared<quant::QuantConv2d>(in, out, k, o, bias, quant_fields(f));
    } else if (op == "quant_linear" || op == "linear") {
      JsonFields l(f.object("linear", true), f.key_path("linear"), what_);
      const int64_t in = l.integer("in_features", std::nullopt, 1), out = l.integer("out_features", std::nullopt, 1);
      l.finish();
      const bool bias = f.boolean("bias", std::nullopt);
      if (op == "linear") s->module = std::make_shared<Linear>(in, out, bias);
      else s->module = std::make_shared<quant::QuantLinear>(in, out, bias, quant_fields(f));
    } else if (op == "batch_norm2d") {
      s->module = std::make_shared<BatchNorm2d>(f.integer("num_features", std::nullopt, 1),
                                                static_cast<float>(f.number("eps", std::nullopt, Range::positive())));
    } else if (op == "relu") {
      s->module = std::make_shared<ReLU>();
    } else if (op == "max_pool2d") {
      const int64_t k = f.integer("kernel", std::nullopt, 1);
      s->module = std::make_shared<MaxPool2d>(k, f.integer("stride", std::nullopt, 0), f.integer("padding", std::nullopt, 0));
    } else if (op == "global_avg_pool") {
      s->module = std::make_shared<GlobalAvgPool>();
    } else if (op == "flatten") {
      s->module = std::make_shared<Flatten>(f.integer("start_dim", std::nullopt, 0));
    } else {
      s->module = std::make_shared<Dropout>(0.0f);
    }
    // Its tensors, every one the rebuilt layer holds and no other.
    const std::vector<std::string> names = f.strings("tensors", std::nullopt);
    f.finish();
    NamedTensors state;
    for (const auto& [name, t] : s->module->state_dict()) {
      RAOQ_CHECK(std::find(names.begin(), names.end(), name) != names.end(), what_, ": ", at, ".tensors does not list '",
                 name, "', which a ", op, " layer holds");
      state.emplace_back(name, tensor(path + "." + name, at, t.shape()));
    }
    RAOQ_CHECK(names.size() == state.size(), what_, ": ", at, ".tensors lists ", names.size(), " tensors; a ", op,
               " layer holds ", state.size());
    s->module->load_state_dict(state);
    s->module->eval();
    return s;
  }

 private:
  struct ConvFields {
    int64_t in, out, k;
    ops::Conv2dOptions o;
  };
  ConvFields conv_fields(JsonFields& c) {
    ConvFields r{c.integer("in_channels", std::nullopt, 1), c.integer("out_channels", std::nullopt, 1),
                 c.integer("kernel", std::nullopt, 1), {}};
    r.o.stride = c.integer("stride", std::nullopt, 1);
    r.o.padding = c.integer("padding", std::nullopt, 0);
    r.o.dilation = c.integer("dilation", std::nullopt, 1);
    r.o.groups = c.integer("groups", std::nullopt, 1);
    c.finish();
    return r;
  }

  quant::QuantOptions quant_fields(JsonFields& f) {
    JsonFields q(f.object("quant", true), f.key_path("quant"), what_);
    quant::QuantOptions o;
    o.bx = static_cast<int>(q.integer("bx", std::nullopt, 2, 8));
    o.bw = static_cast<int>(q.integer("bw", std::nullopt, 2, 8));
    o.act_signed = q.boolean("act_signed", std::nullopt);
    o.act_offset = q.boolean("act_offset", std::nullopt);
    o.per_channel = q.boolean("per_channel", std::nullopt);
    q.finish();
    return o;
  }

  // The tensor `name` of the export, of `shape` (empty shape: any).
  Tensor tensor(const std::string& name, const std::string& at, const Shape& shape) {
    RAOQ_CHECK(file_.contains(name), "export: '", dir_, "/tensors.safetensors' has no tensor '", printable(name),
               "' (", at, ")");
    const Tensor& t = file_.at(name);
    RAOQ_CHECK(shape.empty() || t.shape() == shape, "export: '", dir_, "/tensors.safetensors': tensor '",
               printable(name), "' has shape ", shape_str(t.shape()), ", expected ", shape_str(shape), " (", at, ")");
    return t;
  }

  std::shared_ptr<ExportedModel::Step> array_step(JsonFields& f, bool conv, const std::string& path,
                                                   const std::string& at) {
    auto s = std::make_shared<ArrayStep>();
    s->path = path;
    s->conv = conv;
    const quant::QuantOptions q = quant_fields(f);
    {
      JsonFields r(f.object("input_codes", true), f.key_path("input_codes"), what_);
      s->input_codes.lo = static_cast<float>(r.number("lo", std::nullopt));
      s->input_codes.hi = static_cast<float>(r.number("hi", std::nullopt));
      r.finish();
      if (!(s->input_codes.lo < s->input_codes.hi)) f.fail("input_codes", "must have lo < hi");
    }
    {
      JsonFields m(f.object("input_map", true), f.key_path("input_map"), what_);
      s->map.gain = static_cast<float>(m.number("gain", std::nullopt, Range::positive()));
      s->map.shift = static_cast<float>(m.number("shift", std::nullopt));
      m.finish();
    }
    s->K = f.integer("K", std::nullopt, 1);
    s->N = f.integer("N", std::nullopt, 1);
    {
      JsonFields a(f.object("adc", true), f.key_path("adc"), what_);
      imc::AdcConfig& h = s->hw;
      s->rows = h.rows = a.integer("rows", std::nullopt, 1);
      s->cols = h.cols = a.integer("cols", std::nullopt, 1);
      h.ba = static_cast<int>(a.integer("ba", std::nullopt, 1, 16));
      h.k = static_cast<int>(a.integer("k", std::nullopt, 1, 1 << 20));
      h.bx = static_cast<int>(a.integer("bx", std::nullopt, 1, 8));
      h.bw = static_cast<int>(a.integer("bw", std::nullopt, 2, 8));
      h.signed_input = a.boolean("signed_input", std::nullopt);
      h.representation = quant::representation_from_string(a.choice("representation", std::nullopt, {"zero_one", "minus_one_one"}));
      s->adc_on = h.enabled = a.boolean("enabled", std::nullopt);
      h.mapping = imc::mapping_from_string(a.choice("mapping", std::nullopt, {"direct", "bit_sliced"}));
      h.slice_bits = static_cast<int>(a.integer("slice_bits", std::nullopt, 2, 8));
      if (!h.enabled || h.ba > 8) a.fail("ba", "must be at most 8 with the ADC enabled (an export's codes are bytes)");
      try {  // the hardware's own rules, the exactness of its column sums among them
        h.validate(a.path());
      } catch (const Error& e) {
        throw Error(what_ + ": " + e.what());
      }
      s->D = static_cast<float>(a.number("D", std::nullopt, Range::positive()));
      s->lo = static_cast<float>(a.number("lo", std::nullopt));
      s->hi = static_cast<float>(a.number("hi", std::nullopt));
      a.finish();
      const quant::CodeRange adc = imc::adc_codes(h.ba);
      if (s->lo != adc.lo || s->hi != adc.hi)
        f.fail("adc", "lo and hi must be the ADC's codes for ba " + std::to_string(h.ba) + ", [" +
                          std::to_string(int(adc.lo)) + ", " + std::to_string(int(adc.hi)) + "]");
      if (s->D != imc::adc_step(h)) f.fail("adc", "D must be the step Eq. 3 gives this hardware");
      // The input codes and their map must be what an input of bx bits can be (so every column
      // sum stays inside the int32 products and the float exactness AdcConfig::validate checks).
      const quant::CodeRange u = quant::unsigned_codes(h.bx), sg = quant::signed_codes(h.bx);
      const bool range_ok = (s->input_codes.lo == u.lo && s->input_codes.hi == u.hi) ||
                            (s->input_codes.lo == sg.lo && s->input_codes.hi == sg.hi);
      if (!range_ok) f.fail("input_codes", "must be the unsigned or signed codes of adc.bx " + std::to_string(h.bx));
      if ((s->map.gain != 1 && s->map.gain != 2) || std::fabs(s->map.shift) > std::ldexp(1.0f, h.bx))
        f.fail("input_map", "must have gain 1 or 2 and |shift| <= 2^bx");
    }
    Shape wshape{s->N, s->K};
    if (conv) {
      JsonFields c(f.object("conv", true), f.key_path("conv"), what_);
      const auto [in, out, k, o] = conv_fields(c);
      if (o.groups != 1) f.fail("conv", "groups must be 1 on an array (got " + std::to_string(o.groups) + ")");
      if (out != s->N || in * k * k != s->K)
        f.fail("conv", "does not match K " + std::to_string(s->K) + " and N " + std::to_string(s->N));
      s->in = in, s->out = out, s->kernel = k, s->options = o;
      wshape = {out, in, k, k};
    } else {
      JsonFields l(f.object("linear", true), f.key_path("linear"), what_);
      s->in = l.integer("in_features", std::nullopt, 1);
      s->out = l.integer("out_features", std::nullopt, 1);
      l.finish();
      if (s->in != s->K || s->out != s->N) f.fail("linear", "does not match K and N");
    }
    {
      JsonFields t(f.object("tensors", true), f.key_path("tensors"), what_);
      s->s_x = tensor(t.string("s_x", std::nullopt), at, {});
      const Json& b = f.object("tensors", true);
      if (b.contains("beta") && !b["beta"].is_null()) s->beta = tensor(t.string("beta", std::nullopt), at, {});
      else t.accept("beta");
      s->s_w = tensor(t.string("s_w", std::nullopt), at, {});
      if (b.contains("bias") && !b["bias"].is_null()) s->bias = tensor(t.string("bias", std::nullopt), at, {s->N});
      else t.accept("bias");
      t.finish();
      if (q.act_offset != s->beta.defined()) f.fail("tensors", "beta must be given exactly when quant.act_offset is true");
      if (s->s_w.numel() != (q.per_channel ? s->N : 1))
        f.fail("tensors", "s_w must hold " + std::to_string(q.per_channel ? s->N : 1) + " values");
    }
    {
      JsonFields sl(f.object("slices", true), f.key_path("slices"), what_);
      const std::vector<double> xf = sl.numbers("input_factors", std::nullopt, Range::positive());
      s->x_offset = static_cast<float>(sl.number("input_offset", std::nullopt));
      const std::vector<double> wf = sl.numbers("weight_factors", std::nullopt, Range::positive());
      sl.finish();
      // The slicing these fields describe must be the one the mapping defines (imc/detail/bit_slice.h).
      imc::detail::Slices want_x{{Tensor::zeros({1})}, {1.0f}, 0.0f}, want_w{{Tensor::zeros({1})}, {1.0f}, 0.0f};
      if (s->hw.mapping == imc::Mapping::bit_sliced) {
        want_x = imc::detail::slice_inputs(Tensor::zeros({1}), s->hw);
        want_w = imc::detail::slice_weights(Tensor::zeros({1}), s->hw);
      }
      const auto same = [](const std::vector<double>& a, const std::vector<float>& b) {
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i)
          if (float(a[i]) != b[i]) return false;
        return true;
      };
      if (!same(xf, want_x.factors) || s->x_offset != want_x.offset || !same(wf, want_w.factors))
        f.fail("slices", "does not describe adc.mapping " + std::string(imc::to_string(s->hw.mapping)) + " with slice_bits " +
                             std::to_string(s->hw.slice_bits) + " and bx " + std::to_string(s->hw.bx) + ", bw " +
                             std::to_string(s->hw.bw));
      s->x_factors.assign(want_x.factors.begin(), want_x.factors.end());
      s->w_factors.assign(want_w.factors.begin(), want_w.factors.end());
    }
    s->tiles = f.integer("row_tiles", std::nullopt, 1);
    const int64_t groups = f.integer("column_groups", std::nullopt, 1);
    const int64_t J = f.integer("weight_slices", std::nullopt, 1);
    if (J != static_cast<int64_t>(s->w_factors.size()))
      f.fail("weight_slices", "must be " + std::to_string(s->w_factors.size()) + " for this mapping");
    if (s->tiles != (s->K + s->rows - 1) / s->rows)
      f.fail("row_tiles", "must be ceil(K / adc.rows) = " + std::to_string((s->K + s->rows - 1) / s->rows));
    if (groups != (s->N + s->cols - 1) / s->cols)
      f.fail("column_groups", "must be ceil(N / adc.cols) = " + std::to_string((s->N + s->cols - 1) / s->cols));
    // The arrays cover the K x N weight once per weight slice, tile-major: array i is row tile
    // i / (G J), column group i / J % G, weight slice i % J, holding rows [t rows, (t+1) rows) and
    // columns [g cols, (g+1) cols), cut at K and N.
    const Json& arrays = f.array("arrays", true);
    if (static_cast<int64_t>(arrays.size()) != s->tiles * groups * J)
      f.fail("arrays", "lists " + std::to_string(arrays.size()) +
                           " arrays, expected row_tiles x column_groups x weight_slices = " +
                           std::to_string(s->tiles * groups * J));
    Tensor wq = Tensor::zeros({s->N, s->K});
    const int slice_bits = s->hw.mapping == imc::Mapping::bit_sliced ? s->hw.slice_bits : q.bw;
    const float wmax = static_cast<float>((1 << (slice_bits - 1)) - 1);
    for (size_t i = 0; i < arrays.size(); ++i) {
      const std::string where = join_index(f.key_path("arrays"), i);
      JsonFields a(arrays[i], where, what_);
      const int64_t t = static_cast<int64_t>(i) / (groups * J), g = static_cast<int64_t>(i) / J % groups,
                    j = static_cast<int64_t>(i) % J;
      ArrayBlock b;
      b.k0 = t * s->rows, b.k1 = std::min(s->K, b.k0 + s->rows);
      b.n0 = g * s->cols, b.n1 = std::min(s->N, b.n0 + s->cols);
      b.slice = j;
      if (a.integer("row_tile", std::nullopt, 0) != t) a.fail("row_tile", "must be " + std::to_string(t) + " (arrays are listed tile by tile)");
      if (a.integer("column_group", std::nullopt, 0) != g) a.fail("column_group", "must be " + std::to_string(g));
      if (a.integer("weight_slice", std::nullopt, 0) != j) a.fail("weight_slice", "must be " + std::to_string(j));
      if (a.integers("rows", std::nullopt, 0) != std::vector<int64_t>{b.k0, b.k1})
        a.fail("rows", "must be [" + std::to_string(b.k0) + ", " + std::to_string(b.k1) + "]");
      if (a.integers("cols", std::nullopt, 0) != std::vector<int64_t>{b.n0, b.n1})
        a.fail("cols", "must be [" + std::to_string(b.n0) + ", " + std::to_string(b.n1) + "]");
      const std::string name = a.string("tensor", std::nullopt);
      a.finish();
      const Tensor codes = tensor(name, where, {b.k1 - b.k0, b.n1 - b.n0});
      b.codes.resize(b.k1 - b.k0, b.n1 - b.n0);
      for (int64_t k = 0; k < b.codes.size(); ++k) {
        const float v = codes.data()[k];
        RAOQ_CHECK(v == std::nearbyint(v) && std::fabs(v) <= wmax, "export: '", dir_, "/tensors.safetensors': tensor '",
                   printable(name), "' element ", k, " is ", v, ", expected a weight code in [", -wmax, ", ", wmax, "] (", where, ")");
        b.codes.data()[k] = static_cast<int32_t>(v);
      }
      // The whole codes, for the digital weight sums: sum_j factor_j * slice_j.
      const float factor = static_cast<float>(s->w_factors[static_cast<size_t>(j)]);
      for (int64_t k = b.k0; k < b.k1; ++k)
        for (int64_t n = b.n0; n < b.n1; ++n)
          wq.data()[n * s->K + k] += factor * static_cast<float>(b.codes(k - b.k0, n - b.n0));
      s->blocks.push_back(std::move(b));
    }
    f.finish();
    s->wq = wq.view_as_shape(wshape);
    return s;
  }

  std::string dir_;
  const SafetensorsFile& file_;
  std::string what_;
};

}  // namespace

std::shared_ptr<ExportedModel> ExportedModel::load(const std::string& dir) {
  std::error_code ec;
  RAOQ_CHECK(fs::is_directory(dir, ec), "export: '", dir, "' is not a directory (expected the folder raoq export wrote)");
  const std::string manifest_path = (fs::path(dir) / "manifest.json").string();
  RAOQ_CHECK(fs::is_regular_file(manifest_path, ec), "export: '", dir, "' has no manifest.json");
  auto m = std::make_shared<ExportedModel>();
  m->manifest = parse_json(read_file(manifest_path), "export: '" + manifest_path + "'");
  const std::string what = "export: '" + manifest_path + "'";
  JsonFields f(m->manifest, "", what);
  const std::string format = f.string("format", std::nullopt);
  if (format != "raoq-export") f.fail("format", "must be \"raoq-export\" (got " + json_brief(Json(format)) + ")");
  const int64_t version = f.integer("version", std::nullopt);
  RAOQ_CHECK(version == kExportVersion, what, ": version ", version, " is not one this raoq reads (it reads version ",
             kExportVersion, ")");
  f.string("schema", "");
  f.object("model", true);
  f.object("data");
  f.object("totals");
  {
    JsonFields in(f.object("input", true), "input", what);
    const std::vector<int64_t> shape = in.integers("shape", std::nullopt, 1);
    m->input_shape.assign(shape.begin(), shape.end());
    JsonFields n(in.object("normalize", true), "input.normalize", what);
    m->normalize_mean = n.numbers("mean", std::nullopt);
    m->normalize_std = n.numbers("std", std::nullopt, Range::positive());
    if (m->normalize_mean.size() != m->normalize_std.size()) n.fail("std", "must have as many values as mean");
    n.finish();
    in.finish();
  }
  const std::string tensors_path = (fs::path(dir) / "tensors.safetensors").string();
  RAOQ_CHECK(fs::is_regular_file(tensors_path, ec), "export: '", dir, "' has no tensors.safetensors");
  const SafetensorsFile file = load_safetensors(tensors_path);
  const auto it = file.metadata.find("version");
  RAOQ_CHECK(it != file.metadata.end() && it->second == std::to_string(kExportVersion), "export: '", tensors_path,
             "' is not a version ", kExportVersion, " export's tensor file (its metadata version is '",
             it == file.metadata.end() ? std::string("absent") : printable(it->second), "')");
  const Json& layers = f.array("layers", true);
  RAOQ_CHECK(!layers.empty(), what, ": layers is empty");
  f.finish();
  Reader reader(dir, file);
  for (size_t i = 0; i < layers.size(); ++i) m->steps.push_back(reader.step(layers[i], i));
  return m;
}

Tensor ExportedModel::forward(const Tensor& x) {
  autograd::NoGradGuard no_grad;
  last_codes.clear();
  Tensor h = x;
  for (const auto& s : steps) h = s->run(h, *this);
  return h;
}

}  // namespace raoq::tools
