// imc/cost.cpp — the cost model (contract and counting rules in cost.h).
#include "imc/cost.h"

#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/autograd.h"
#include "core/error.h"
#include "imc/imc_attention.h"
#include "imc/imc_layer.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/multi_head_attention.h"

namespace raoq::imc {

void CostConstants::validate(const std::string& where) const {
  const auto check = [&](const char* key, double v) {
    RAOQ_CHECK(std::isfinite(v) && v > 0, where, ".", key, " must be > 0 (got ", v, ")");
  };
  check("adc_fom", adc_fom);
  check("array_mac", array_mac);
  check("digital_op", digital_op);
}

CostConstants cost_constants_from_json(JsonFields& f) {
  CostConstants c;
  c.adc_fom = f.number("adc_fom", c.adc_fom, Range::positive());
  c.array_mac = f.number("array_mac", c.array_mac, Range::positive());
  c.digital_op = f.number("digital_op", c.digital_op, Range::positive());
  return c;
}

Json cost_constants_to_json(const CostConstants& c) {
  return Json{{"adc_fom", c.adc_fom}, {"array_mac", c.array_mac}, {"digital_op", c.digital_op}};
}

LayerCost array_layer_cost(const std::string& path, const std::string& kind, int64_t K, int64_t N, int64_t vectors,
                           const AdcConfig& config, const CostConstants& constants) {
  RAOQ_CHECK(K > 0 && N > 0 && vectors >= 0, "array_layer_cost: ", path, " has K ", K, ", N ", N, ", vectors ", vectors);
  LayerCost l;
  l.path = path, l.kind = kind, l.on_array = true, l.config = config;
  l.K = K, l.N = N, l.vectors = vectors;
  l.row_tiles = row_tiles(config, K);
  l.column_groups = column_groups(config, N);
  l.weight_slices = weight_slices(config);
  l.slice_pairs = slice_pairs(config);
  l.arrays = arrays_used(config, K, N);
  l.row_use = double(K) / double(l.row_tiles * config.rows);
  l.column_use = double(N) / double(l.column_groups * config.cols);
  const double v = double(vectors), pairs = double(l.slice_pairs);
  l.conversions = config.enabled ? v * double(N) * double(l.row_tiles) * pairs : 0.0;  // ADC bypassed: none
  l.array_macs = v * double(K) * double(N);
  l.digital_ops = v * double(N) * (double(l.row_tiles) * pairs + 2.0);
  l.energy_adc = l.conversions * constants.adc_fom * std::ldexp(1.0, config.ba);
  l.energy_array = l.array_macs * pairs * constants.array_mac;
  l.energy_digital = l.digital_ops * constants.digital_op;
  return l;
}

LayerCost digital_layer_cost(const std::string& path, const std::string& kind, double macs, double ops,
                             const CostConstants& constants) {
  LayerCost l;
  l.path = path, l.kind = kind;
  l.digital_ops = macs + ops;
  l.energy_digital = l.digital_ops * constants.digital_op;
  return l;
}

namespace {
int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

void add_to(LayerCost& total, const LayerCost& l) {
  total.arrays += l.arrays;
  total.conversions += l.conversions;
  total.array_macs += l.array_macs;
  total.digital_ops += l.digital_ops;
  total.energy_adc += l.energy_adc;
  total.energy_array += l.energy_array;
  total.energy_digital += l.energy_digital;
}
}  // namespace

ModelCost model_cost(Module& model, const Tensor& batch, const CostConstants& constants) {
  constants.validate();
  RAOQ_CHECK(batch.dim() >= 1 && batch.size(0) > 0, "model_cost: expected a batch (B, ...), got ",
             shape_str(batch.shape()));
  const double B = double(batch.size(0));
  std::vector<ShapeProbe::Record> records;
  {
    autograd::NoGradGuard ng;
    const bool training = model.is_training();
    model.train(false);  // no running statistics move, dropout is off
    ShapeProbe probe;
    try {
      (void)model.forward(batch);
    } catch (...) {
      model.train(training);
      throw;
    }
    model.train(training);
    records = probe.records();
  }
  ModelCost cost;
  LayerCost other = digital_layer_cost("(other layers)", "other", 0, 0, constants);
  for (const auto& r : records) {
    const Module* m = r.module;
    const auto per_sample = [B](double v) { return v / B; };
    if (const auto* a = dynamic_cast<const MultiHeadAttention*>(m)) {
      // x: (B, T, D). Q K^T: H*T queries against T keys of length Dh; P V: H*T*T*Dh MACs (digital).
      RAOQ_CHECK(r.input.size() == 3, "model_cost: attention '", r.path, "' took ", shape_str(r.input));
      const int64_t T = r.input[1], H = a->num_heads, Dh = a->head_dim;
      if (const auto* ia = dynamic_cast<const ImcAttention*>(m)) {
        LayerCost l = array_layer_cost(r.path, "qk", Dh, T, H * T, ia->layer_config(), constants);
        l.arrays *= H;  // every head's keys on their own arrays
        cost.layers.push_back(l);
      } else {
        cost.layers.push_back(digital_layer_cost(r.path, "qk", double(H * T * T * Dh), 0, constants));
      }
      cost.layers.push_back(digital_layer_cost(r.path + ":pv", "pv", double(H * T * T * Dh), double(H * T * T),
                                               constants));  // softmax: one op per probability
      continue;
    }
    const auto* conv = dynamic_cast<const Conv2d*>(m);
    const auto* linear = dynamic_cast<const Linear*>(m);
    if (conv || linear) {
      int64_t K = 0, N = 0, vectors = 0;
      if (conv) {
        K = conv->in_channels / conv->options.groups * conv->kernel_size * conv->kernel_size;
        N = conv->out_channels;
        vectors = numel_of(r.output) / r.output.at(1) / r.output.at(0);  // Ho * Wo
      } else {
        K = linear->in_features, N = linear->out_features;
        vectors = int64_t(per_sample(double(numel_of(r.output) / N)));
      }
      const std::string kind = conv ? "conv" : "linear";
      if (const auto* il = dynamic_cast<const ImcLayer*>(m)) {
        cost.layers.push_back(array_layer_cost(r.path, kind, K, N, vectors, il->layer_config(), constants));
      } else {
        LayerCost l = digital_layer_cost(r.path, kind, double(vectors) * double(K) * double(N), 0, constants);
        l.K = K, l.N = N, l.vectors = vectors;
        cost.layers.push_back(l);
      }
      continue;
    }
    if (!m->named_children().empty()) continue;  // a container: its leaves are counted
    if (m->type_name() == "Flatten") continue;    // a view: no arithmetic
    LayerCost l = digital_layer_cost("", "other", 0, per_sample(double(numel_of(r.output))), constants);
    add_to(other, l);
  }
  if (other.digital_ops > 0) cost.layers.push_back(other);
  cost.total.path = "total", cost.total.kind = "total";
  for (const auto& l : cost.layers) add_to(cost.total, l);
  return cost;
}

namespace {
std::string si(double v, const char* unit) {  // 3 significant digits with k/M/G, or m/u/n/p for small
  static const char* big[] = {"", "k", "M", "G", "T"};
  static const char* small[] = {"", "m", "u", "n", "p", "f"};
  char buf[48];
  if (v == 0) return std::string("0 ") + unit;
  int i = 0;
  if (std::fabs(v) >= 1) {
    while (std::fabs(v) >= 1000 && i < 4) v /= 1000, ++i;
    std::snprintf(buf, sizeof buf, "%.3g %s%s", v, big[i], unit);
  } else {
    while (std::fabs(v) < 1 && i < 5) v *= 1000, ++i;
    std::snprintf(buf, sizeof buf, "%.3g %s%s", v, small[i], unit);
  }
  return buf;
}
}  // namespace

void print_cost(std::ostream& os, const ModelCost& cost, const CostConstants& constants) {
  char line[320];
  std::snprintf(line, sizeof line, "%-28s %-6s %5s %5s %6s %9s %6s %6s %10s %10s %10s %10s %6s\n", "layer", "kind",
                "K", "N", "vec", "arrays", "rows%", "cols%", "conv", "array MAC", "digital", "energy", "share");
  os << "cost per sample (energy proxy, not a measurement; imc/cost.h)\n" << line;
  const double total = cost.total.energy();
  for (const auto& l : cost.layers) {
    char arrays[32] = "-", rows[16] = "-", cols[16] = "-";
    if (l.on_array) {
      std::snprintf(arrays, sizeof arrays, "%lldx%lldx%lld", (long long)l.row_tiles, (long long)l.column_groups,
                    (long long)l.weight_slices);
      std::snprintf(rows, sizeof rows, "%.1f", 100 * l.row_use);
      std::snprintf(cols, sizeof cols, "%.1f", 100 * l.column_use);
    }
    const std::string K = l.K ? std::to_string(l.K) : "-", N = l.N ? std::to_string(l.N) : "-";
    const std::string v = l.vectors ? std::to_string(l.vectors) : "-";
    std::snprintf(line, sizeof line, "%-28s %-6s %5s %5s %6s %9s %6s %6s %10s %10s %10s %10s %5.1f%%\n",
                  l.path.c_str(), (l.kind + (l.on_array ? "*" : "")).c_str(), K.c_str(), N.c_str(), v.c_str(), arrays,
                  rows, cols, si(l.conversions, "").c_str(), si(l.array_macs, "").c_str(),
                  si(l.digital_ops, "").c_str(), si(l.energy(), "J").c_str(), total > 0 ? 100 * l.energy() / total : 0.0);
    os << line;
  }
  std::snprintf(line, sizeof line, "%-28s %-6s %5s %5s %6s %9lld %6s %6s %10s %10s %10s %10s\n", "total", "", "", "",
                "", (long long)cost.total.arrays, "", "", si(cost.total.conversions, "").c_str(),
                si(cost.total.array_macs, "").c_str(), si(cost.total.digital_ops, "").c_str(),
                si(total, "J").c_str());
  os << line;
  os << "  * on the arrays; arrays = row tiles x column groups x weight slices (x heads for qk); energy: ADC "
     << si(cost.total.energy_adc, "J") << ", array " << si(cost.total.energy_array, "J") << ", digital "
     << si(cost.total.energy_digital, "J") << "\n  constants: E_ADC(ba) = " << si(constants.adc_fom, "J")
     << " x 2^ba, E_MAC " << si(constants.array_mac, "J") << ", E_dig " << si(constants.digital_op, "J")
     << " (config key \"cost\")\n";
}

}  // namespace raoq::imc
