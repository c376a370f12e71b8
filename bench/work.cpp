// bench/work.cpp — work counts (contract in work.h).
#include "bench/work.h"

#include "core/autograd.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/multi_head_attention.h"

namespace raoq::bench {

double forward_macs(Module& model, const Tensor& x) {
  std::vector<ShapeProbe::Record> records;
  {
    autograd::NoGradGuard ng;
    ShapeProbe probe;
    (void)model.forward(x);
    records = probe.records();
  }
  double macs = 0;
  for (const auto& r : records) {
    double outputs = 1;
    for (int64_t d : r.output) outputs *= double(d);
    if (const auto* c = dynamic_cast<const Conv2d*>(r.module)) {
      macs += outputs * double(c->in_channels / c->options.groups * c->kernel_size * c->kernel_size);
    } else if (const auto* l = dynamic_cast<const Linear*>(r.module)) {
      macs += outputs * double(l->in_features);
    } else if (const auto* a = dynamic_cast<const MultiHeadAttention*>(r.module)) {
      const double B = double(r.input.at(0)), T = double(r.input.at(1));
      macs += 2.0 * B * double(a->num_heads) * T * T * double(a->head_dim);
    }
  }
  return macs;
}

double training_step_flop(Module& model, const Tensor& x) { return 6.0 * forward_macs(model, x); }

}  // namespace raoq::bench
