// imc/cost.h — what a model costs on the arrays: arrays, utilisation, ADC conversions, MACs on the
// arrays and in digital logic, and an energy proxy, per layer and in total, per input sample.
//
// Per array layer with reduction length K, N output columns and `vectors` input vectors per
// sample (a conv: Ho*Wo positions; a linear: the tokens of a sample; Q K^T: heads * Tq queries
// against N = Tk stored keys of length K = Dh):
//   row tiles     ceil(K / rows)           column groups  ceil(N / cols)
//   slice pairs   1 (direct), or the (input slice, weight slice) pairs of bit_sliced mapping
//   arrays        row tiles * column groups * weight slices  (adc.h, arrays_used: an array stores one
//                                                              weight slice; input slices are passes)
//   row use       K / (row tiles * rows)   column use     N / (column groups * cols)
//   conversions   vectors * N * row tiles * slice pairs       (one ADC conversion per tile column
//                                                              and input vector; 0 with the ADC
//                                                              bypassed, adc.enabled false)
//   array MACs    vectors * K * N                              (each done slice pairs times)
//   digital ops   vectors * N * (row tiles * slice pairs + 2)  (the tile outputs summed, then
//                                                              one scale and one offset)
// A layer off the array (the 8-bit first and last layers, depthwise convolutions, attention's
// probabilities x V) counts its MACs as digital ops; any other leaf layer (normalisation,
// activation, pooling, softmax inside attention) one digital op per output element (a Flatten
// none). Q K^T's arrays are counted for all heads (each head's keys on its own arrays).
//
// Energy proxy (joules per sample), the constants being config keys ("cost", tools/pipeline):
//   E = conversions * E_ADC(ba) + array MACs * slice pairs * E_MAC + digital ops * E_dig,
//   E_ADC(ba) = FoM * 2^ba (the Walden figure of merit, per conversion step).
// It is a proxy, not a measurement: no wires, drivers, DACs, buffers or key writes (Q K^T's array
// is rewritten every forward; that write is not counted), and one energy per digital op.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/json_fields.h"
#include "core/tensor.h"
#include "imc/adc.h"
#include "layers/module.h"

namespace raoq::imc {

// Defaults: round values inside published ranges, to be replaced by a design's own figures.
struct CostConstants {
  // Walden FoM of a SAR ADC, J per conversion step: Murmann's ADC survey puts low-power SAR
  // designs at about 1 to 10 fJ/conversion-step; 5 fJ gives 1.3 pJ per 8-bit conversion.
  double adc_fom = 5e-15;
  // One multiply-accumulate in the array (a 4-bit x 4-bit cell, ADC excluded): analog IMC macros
  // report tens to a few hundred TOPS/W at 4 bits, i.e. about 5 to 50 fJ per MAC.
  double array_mac = 10e-15;
  // One digital operation, taken as an 8-bit integer MAC: 0.2 pJ multiply + 0.03 pJ add at 45 nm
  // (Horowitz, ISSCC 2014).
  double digital_op = 0.23e-12;

  // Throws raoq::Error "<where>.adc_fom must be > 0 (got ...)" for a non-positive or non-finite value.
  void validate(const std::string& where = "cost") const;
};

// The "cost" object of a config: every key optional (defaults above), each > 0; unknown keys
// are left to f.finish().
CostConstants cost_constants_from_json(JsonFields& f);
Json cost_constants_to_json(const CostConstants& c);

struct LayerCost {
  std::string path;
  std::string kind;  // "conv", "linear", "qk" (attention's Q K^T), "pv" (probabilities x V), "other"
  bool on_array = false;
  AdcConfig config;  // the layer's hardware (on_array only)
  int64_t K = 0, N = 0, vectors = 0;  // per sample; K, N of a weight layer also off the array
  int64_t row_tiles = 0, column_groups = 0, weight_slices = 0, slice_pairs = 0, arrays = 0;
  double row_use = 0, column_use = 0;                         // fractions in (0, 1]
  double conversions = 0, array_macs = 0, digital_ops = 0;    // per sample
  double energy_adc = 0, energy_array = 0, energy_digital = 0;  // J per sample
  double energy() const { return energy_adc + energy_array + energy_digital; }
};

// An array layer (the counts above) on hardware `config` (its bx, bw set).
LayerCost array_layer_cost(const std::string& path, const std::string& kind, int64_t K, int64_t N, int64_t vectors,
                           const AdcConfig& config, const CostConstants& constants);
// A layer off the array: `macs` multiply-accumulates (a weight layer's vectors*K*N) plus `ops`
// other operations, all at E_dig.
LayerCost digital_layer_cost(const std::string& path, const std::string& kind, double macs, double ops,
                             const CostConstants& constants);

struct ModelCost {
  std::vector<LayerCost> layers;  // in the order the layers ran
  LayerCost total;                // sums (arrays, conversions, MACs, ops, energies); path "total"
};

// Runs model on `batch` in eval mode (no gradient, no running statistics moved; shapes probed:
// layers/module.h ShapeProbe) and counts every layer, per sample (the batch's first dimension
// divides the counts).
ModelCost model_cost(Module& model, const Tensor& batch, const CostConstants& constants);

// The table: one row per layer (array layers and digital weight layers; the other leaf layers in
// one "other digital" row), then the total and the constants used.
void print_cost(std::ostream& os, const ModelCost& cost, const CostConstants& constants);

}  // namespace raoq::imc
