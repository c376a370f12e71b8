// quant/lsq.h — LSQ / LSQ+ fake quantization: integer codes with learnable scale and offset.
//
// References: LSQ (Esser et al., ICLR 2020, "Learned Step Size Quantization") and LSQ+ (Bhalgat
// et al., CVPR-W 2020, "LSQ+: Improving low-bit quantization through learnable offsets and better
// initialization"); RAOQ (Zhang et al., ICML 2024) Eq. 4 uses the LSQ+ activation quantizer.
//
// Forward (v = (x - beta) / s, elementwise, with s and beta read per output channel if given):
//   lsq_codes:      c     = round(clip(v, qn, qp))        the integer codes xq / wq (held in float)
//   lsq_fake_quant: x_hat = s * round(clip(v, qn, qp)) + beta
// round() is round-half-to-even (std::nearbyint), as torch.round.
//
// Declared surrogate gradients (round has zero derivative almost everywhere, so these are the
// straight-through estimator of LSQ/LSQ+; "inside" means qn <= v <= qp, "outside" the rest):
//   x_hat:  d/dx = 1 inside, 0 outside;  d/ds = round(v) - v inside, qn or qp outside;
//           d/dbeta = 0 inside, 1 outside.                                        (LSQ Eq. 3, LSQ+ Eq. 4)
//   codes:  d/dx = 1/s inside;  d/ds = -v/s inside;  d/dbeta = -1/s inside;  all 0 outside.
// The code gradients are chosen so that s * codes + beta, differentiated by the product rule,
// has exactly the x_hat gradients above (d/ds: codes + s * (-v/s) = round(v) - v inside).
// Each surrogate is the exact derivative of the same expression with round() removed, which is
// what Rounding::skip evaluates: gradient checks use it to test the backward code by finite
// differences (finite differences of a rounded function are meaningless).
//
// Shapes: x: any shape; s: [] (per tensor) or [C] with C = x.size(0) (per output channel, for
// weights (C_out, ...)); beta: undefined (no offset), [] or [C]. Outputs have x's shape.
// What this file does not do: hold parameters (the quantizer modules do), the LSQ gradient scale
// (apply grad_scale to s before calling), or anything about arrays and ADCs (imc/).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace raoq::quant {

// An inclusive integer code range [lo, hi].
struct CodeRange {
  float lo = 0;
  float hi = 0;
  int64_t levels() const { return static_cast<int64_t>(hi - lo) + 1; }
};
CodeRange unsigned_codes(int bits);   // [0, 2^b - 1]: LSQ+ activations after ReLU/GELU (RAOQ Eq. 4)
CodeRange signed_codes(int bits);     // [-2^(b-1), 2^(b-1) - 1]: activations that are not post-ReLU/GELU
CodeRange symmetric_codes(int bits);  // [-(2^(b-1) - 1), 2^(b-1) - 1]: weights (symmetric, DESIGN.md)

enum class Rounding {
  apply,  // the quantizer as used in training and inference
  skip,   // the un-rounded expression: its exact gradient is the declared surrogate (for gradcheck)
};

// Scales below this are read as this value: a scale at 0 or negative would divide by zero or flip
// every code, and a NaN scale would poison the whole layer. Far below any useful step size.
inline constexpr float kScaleFloor = 1e-6f;

// s_eff = max(s, floor) elementwise (a NaN reads as floor). Backward: the gradient passes straight
// through, everywhere, so an optimizer step that pushed s under the floor can pull it back.
// Quantizer modules call it once per forward and use s_eff for the codes and the dequantization.
Tensor scale_floor(const Tensor& s, float floor = kScaleFloor);

// y = x (identity). Backward: dx += g * dy. LSQ's step-size gradient scale is g = 1/sqrt(n * qp)
// (see lsq_grad_scale), applied as s_used = grad_scale(s, g).
Tensor grad_scale(const Tensor& x, float g);

// LSQ gradient scale 1/sqrt(n * qp), n = elements sharing one scale (weights: numel per channel or
// per tensor; activations: features per sample, LSQ Sec. 2.2). qp <= 0 (e.g. 1-bit unsigned) uses 1.
float lsq_grad_scale(int64_t n, float qp);

// Codes round(clip((x - beta) / s, r.lo, r.hi)) with the code surrogate above. s must be positive
// (run it through scale_floor first); the op checks this and names the bad value.
// gain and shift give the codes as an array takes them, gain * code - shift (A-shift, ashift.h:
// gain 1 or 2), in the same pass: the same numbers as a_shift(lsq_codes(...)), bit for bit.
Tensor lsq_codes(const Tensor& x, const Tensor& s, const Tensor& beta, CodeRange r, Rounding rounding = Rounding::apply,
                 float gain = 1.0f, float shift = 0.0f);

// Fused fake quantization s * codes + beta (one pass, no intermediate codes tensor), with the
// LSQ/LSQ+ gradients above. Used for attention's probabilities and V (BMM2, digital); the weight
// layers compute from codes (lsq_codes, dequantize.h).
Tensor lsq_fake_quant(const Tensor& x, const Tensor& s, const Tensor& beta, CodeRange r,
                      Rounding rounding = Rounding::apply);

// ---- LSQ+ initialisation from data (LSQ+ Sec. 3.3). Plain values, no autograd.
// Weights: s = max(|mu - 3 sigma|, |mu + 3 sigma|) / 2^(bits-1), over the whole tensor (returns
// shape []) or over each w[c] (returns [C]). Population statistics; a zero-variance slice falls
// back to max|w| / (2^(bits-1) - 1), and to kScaleFloor if that is 0.
Tensor lsq_plus_weight_scale(const Tensor& w, int bits, bool per_channel);

struct ScaleOffset {
  float scale = 1;
  float offset = 0;
};
// Activations: LSQ+ initialises s and beta by minimising || x_hat(x; s, beta) - x ||^2 on the first
// batch. We solve that argmin by search rather than gradient descent: the quantization grid spans
// [lo, hi] with lo = min(x) + a (max - min) and hi = max(x) - b (max - min) for a on a 12-point grid
// in [0, 0.3] and b on a 40-point grid in [0, 0.975] (activations have long upper tails, so the
// upper clip moves furthest); s = (hi - lo) / (r.hi - r.lo), beta = lo - r.lo * s. With
// learn_offset false (signed codes with zero offset, vanilla QAT*), beta = 0 and only
// s = c * max|x| / r.hi is searched, c on the same 40-point grid. min and max are over the whole
// batch; the squared error is measured on at most 16384 evenly strided samples, so the cost is
// bounded (a few milliseconds per layer) on large batches.
ScaleOffset lsq_plus_activation_init(const Tensor& x, CodeRange r, bool learn_offset = true);

}  // namespace raoq::quant
