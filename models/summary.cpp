// models/summary.cpp — layer table with output shapes read from the recorded graph.
#include "models/summary.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <ostream>

#include "core/autograd.h"

namespace raoq::models {

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

void print_summary(Module& model, const Shape& input, std::ostream& os) {
  const bool was_training = model.is_training();
  model.eval();
  Shape batch = {1};
  batch.insert(batch.end(), input.begin(), input.end());
  // Shapes are read from graph nodes, so record one: a zero input that requires grad.
  Tensor x = Tensor::zeros(batch).set_requires_grad(true);
  Tensor y;
  try {
    y = model.forward(x);
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  std::map<std::string, Shape> shapes;
  for (const auto& node : autograd::graph_nodes(y)) {
    // Layers rename their output after the op recorded it, so read the live tensor's name.
    const std::string name = node->live_output_name();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ":out") == 0)
      shapes[name.substr(0, name.size() - 4)] = node->output_shape;
  }
  struct Row {
    std::string path, type, shape, params;
  };
  std::vector<Row> rows = {{"(input)", "", shape_str(batch), ""}};
  for (const auto& [path, m] : model.named_modules()) {
    if (path.empty()) continue;
    int64_t own = 0;
    for (const auto& [name, t] : m->named_parameters())
      if (name.find('.') == std::string::npos) own += t.numel();
    auto it = shapes.find(m->path().empty() ? path : m->path());
    if (it == shapes.end() && own == 0) continue;  // containers whose output is a child's
    rows.push_back(
        {path, m->type_name(), it == shapes.end() ? "" : shape_str(it->second), own ? with_commas(own) : ""});
  }
  rows.push_back({"(output)", "", shape_str(y.shape()), ""});
  size_t w0 = 5, w1 = 4, w2 = 12;
  for (const auto& r : rows)
    w0 = std::max(w0, r.path.size()), w1 = std::max(w1, r.type.size()), w2 = std::max(w2, r.shape.size());
  auto pad = [](const std::string& s, size_t w) { return s + std::string(w - s.size() + 2, ' '); };
  os << pad("layer", w0) << pad("type", w1) << pad("output shape", w2) << "params\n";
  for (const auto& r : rows) os << pad(r.path, w0) << pad(r.type, w1) << pad(r.shape, w2) << r.params << "\n";
  os << "total: " << with_commas(model.num_parameters()) << " parameters ("
     << with_commas(model.num_trainable_parameters()) << " trainable)\n";
}

}  // namespace raoq::models
