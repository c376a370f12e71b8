// core/gradcheck.cpp — finite-difference gradient checking (see gradcheck.h for the method).
#include "core/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/rng.h"

namespace raoq {

std::string GradcheckResult::report() const {
  std::ostringstream os;
  if (input < 0) {
    os << "no elements checked";
    return os.str();
  }
  os << "input " << input << " at " << shape_str(position) << ": analytic " << analytic << " numeric " << numeric
     << " err " << error << " (" << checked << " elements, " << (ok ? "ok" : "FAILED") << "; ops:";
  for (const auto& op : ops_seen) os << ' ' << op;
  os << ')';
  return os.str();
}

namespace {
Shape unravel(int64_t index, const Shape& shape) {
  Shape pos(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    pos[d] = shape[d] ? index % shape[d] : 0;
    index = shape[d] ? index / shape[d] : 0;
  }
  return pos;
}

double projected(const Tensor& y, const std::vector<float>& r) {
  double acc = 0;
  for (int64_t i = 0; i < y.numel(); ++i) acc += double(y.data()[i]) * r[size_t(i)];
  return acc;
}
}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  GradcheckResult res;
  for (const Tensor& x : inputs) {
    RAOQ_CHECK(x.defined(), "gradcheck: undefined input");
    if (x.requires_grad()) Tensor(x).set_grad(Tensor());  // a handle: clears the shared gradient
  }
  // Analytic pass.
  Tensor y = f(inputs);
  RAOQ_CHECK(y.defined() && y.requires_grad(), "gradcheck: the function's output does not require grad");
  for (const auto& node : autograd::graph_nodes(y)) {
    bool seen = false;
    for (const auto& op : res.ops_seen) seen = seen || op == node->op;
    if (!seen) res.ops_seen.push_back(node->op);
  }
  Generator gen(opt.seed);
  std::vector<float> r(size_t(y.numel()));
  for (auto& v : r) v = gen.uniform01() * 2.0f - 1.0f;
  const Tensor proj = Tensor::from_vector(r, y.shape());
  // L = sum(y * r): seed backward with r directly (no extra ops in the graph).
  {
    // backward() needs a scalar root; multiply by r through a tiny local op.
    Tensor loss = Tensor::scalar(static_cast<float>(projected(y, r)));
    autograd::record("gradcheck_projection", {y}, loss, {"r"}, [proj](BackwardContext& ctx) {
      ctx.dinput(0) += ctx.dout()(0) * proj.flat();
    });
    loss.backward();
  }

  double worst_ratio = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    const bool wanted = opt.check_input.empty() ? x.requires_grad() : (i < opt.check_input.size() && opt.check_input[i]);
    if (!wanted) continue;
    RAOQ_CHECK(x.requires_grad(), "gradcheck: input ", i, " is to be checked but does not require grad");
    const Tensor g = x.grad();
    for (int64_t e = 0; e < x.numel(); ++e) {
      float* p = x.data() + e;
      const float orig = *p;
      auto eval_at = [&](double delta) {
        *p = static_cast<float>(orig + delta);
        autograd::NoGradGuard ng;
        const double v = projected(f(inputs), r);
        *p = orig;
        return v;
      };
      const double h = opt.step;
      const double numeric = (8.0 * (eval_at(h) - eval_at(-h)) - (eval_at(2 * h) - eval_at(-2 * h))) / (12.0 * h);
      const double analytic = g.defined() ? double(g.data()[e]) : 0.0;
      const double err = std::abs(analytic - numeric);
      const double ratio = err / (opt.atol + opt.rtol * std::abs(numeric));
      ++res.checked;
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (std::abs(numeric) > opt.atol) res.max_rel_error = std::max(res.max_rel_error, err / std::abs(numeric));
      res.max_tolerance_ratio = std::max(res.max_tolerance_ratio, ratio);
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        res.input = static_cast<int>(i);
        res.position = unravel(e, x.shape());
        res.analytic = analytic;
        res.numeric = numeric;
        res.error = err;
      }
      if (ratio > 1.0) res.ok = false;
    }
  }
  RAOQ_CHECK(res.checked > 0, "gradcheck: no input requires grad, nothing to check");
  return res;
}

}  // namespace raoq
