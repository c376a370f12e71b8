// tools/pipeline/step_dump.cpp — one training step, dumped (see step_dump.h for what is written).
#include "tools/pipeline/step_dump.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <ostream>
#include <unordered_map>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "imc/adc.h"
#include "imc/bitaug.h"
#include "imc/imc_layer.h"
#include "imc/imc_model.h"
#include "layers/conv2d.h"
#include "optim/clip.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/run_dir.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/stage_setup.h"
#include "tools/pipeline/task.h"
#include "tools/pipeline/trainer.h"

namespace raoq::tools {
namespace fs = std::filesystem;
namespace {

int64_t stage_named(const Config& c, const std::string& name) {
  std::string names;
  for (size_t i = 0; i < c.stages.size(); ++i) {
    if (c.stages[i].name == name) return static_cast<int64_t>(i);
    names += (names.empty() ? "" : ", ") + c.stages[i].name;
  }
  throw Error("step: no stage '" + name + "' in the config (stages: " + names + ")");
}

// The model of stage si with the weights the step starts from, and where they came from. A run
// paused inside stage si (its last.safetensors) resumes there: *paused receives its state.
std::shared_ptr<Module> stage_model(const Config& c, int64_t si, const std::string& target, bool is_run,
                                    std::optional<TrainState>* paused, std::string* weights) {
  const StageConfig& s = c.stages[static_cast<size_t>(si)];
  manual_seed(c.seed);  // as the trainer does before it builds the model
  if (!is_run) {
    *weights = "freshly initialised from the config's seed (a config, not a run), converted for the stage";
    return build_model_for_stage(c, si);
  }
  const RunDir dir{target};
  if (fs::exists(dir.last_checkpoint())) {
    const Checkpoint ck = read_checkpoint(dir.last_checkpoint());
    TrainState st = train_state_from_json(ck.state);
    if (st.stage == si && !st.loader.is_null()) {
      auto m = build_model_for_stage(c, si);
      load_model(*m, ck, dir.last_checkpoint());
      restore_generators(*m, st.generators);
      *weights = dir.last_checkpoint() + " (stage " + s.name + " paused after step " + std::to_string(st.stage_step) + ")";
      *paused = std::move(st);
      return m;
    }
  }
  if (fs::exists(dir.stage_checkpoint(s.name))) {
    auto m = build_model_for_stage(c, si);
    load_model(*m, read_checkpoint(dir.stage_checkpoint(s.name)), dir.stage_checkpoint(s.name));
    *weights = dir.stage_checkpoint(s.name) + " (the stage's finished model)";
    return m;
  }
  const int64_t from = s.init_from.empty() ? si - 1 : stage_named(c, s.init_from);
  if (from < 0) {
    *weights = "freshly initialised from the config's seed (the run's first stage has no checkpoint yet)";
    return build_model_for_stage(c, si);
  }
  const std::string path = dir.stage_checkpoint(c.stages[static_cast<size_t>(from)].name);
  RAOQ_CHECK(fs::exists(path), "step: stage ", s.name, " starts from stage ", c.stages[static_cast<size_t>(from)].name,
             ", which has no checkpoint in '", target, "' yet (", path, "); train it first or name another --stage");
  auto m = build_model_for_stage(c, from);
  load_model(*m, read_checkpoint(path), path);
  convert_for_stage(*m, s, join_index("stages", static_cast<size_t>(si)));
  *weights = path + " (where the stage starts), converted for stage " + s.name;
  return m;
}

// The run's global step at stage step `step` of stage si: a paused run's own count, else the steps
// of the earlier stages (an evaluation-only stage takes none) plus `step`, as the trainer counts
// them. BitAug draws ba~ from it (stage_kind.cpp, adc_after_backward).
int64_t global_step_at(const Config& c, Task& task, int64_t si, int64_t step, const std::optional<TrainState>& paused) {
  if (paused) return paused->global_step - paused->stage_step + step;
  int64_t before = 0;
  for (int64_t j = 0; j < si; ++j) {
    const StageConfig& e = c.stages[static_cast<size_t>(j)];
    if (kind_of(e).on_arrays && !e.quant.finetune) continue;
    const auto l = task.train_batches(e.batch_size, stage_seed(c.seed, static_cast<size_t>(j)));
    before += stage_steps(e, l->batches_per_epoch());
  }
  return before + step;
}

// The batch of stage step `step`: a paused run's next batch, or the one a fresh stage draws then.
StepBatch batch_at(BatchStream& loader, int64_t step, const std::optional<TrainState>& paused) {
  if (paused && paused->stage_step == step) {
    loader.set_state(paused->loader);
    for (int tries = 0; tries < 2; ++tries)
      if (auto b = loader.next()) return *b;
  }
  std::optional<StepBatch> b;
  for (int64_t i = 0; i <= step; ++i)
    if (!(b = loader.next())) b = loader.next();  // an epoch ended: the next call starts the next one
  RAOQ_CHECK(b.has_value(), "step: the stage's loader gave no batch for step ", step);
  return *b;
}

std::string norms(const Tensor& g) {
  if (!g.defined()) return "no gradient (does not lead to the loss)";
  const auto f = g.flat();
  char buf[96];
  std::snprintf(buf, sizeof buf, "grad l2 %.4g max|.| %.4g", std::sqrt(f.cast<double>().square().sum()),
                f.size() ? double(f.abs().maxCoeff()) : 0.0);
  return buf;
}

bool is_layer_output(const std::string& name) { return name.size() > 4 && name.compare(name.size() - 4, 4, ":out") == 0; }

// Graph outputs by node: each node's output is the root or an input of a later node.
std::unordered_map<const Node*, Tensor> node_outputs(const Tensor& loss,
                                                     const std::vector<std::shared_ptr<Node>>& nodes) {
  std::unordered_map<const Node*, Tensor> out;
  out[loss.grad_fn().get()] = loss;
  for (const auto& n : nodes)
    for (const Tensor& in : n->inputs)
      if (in.defined() && in.grad_fn()) out.emplace(in.grad_fn().get(), in);
  return out;
}

void write_walkthrough(const std::string& path, const std::string& header,
                       const std::vector<std::shared_ptr<Node>>& nodes,
                       const std::unordered_map<const Node*, Tensor>& outputs, const NamedTensors& params,
                       const std::string& adc_lines) {
  std::ofstream f(path);
  RAOQ_CHECK(f.good(), "step: cannot write '", path, "'");
  f << header << "\nforward, op by op (#seq op -> output [shape]; inputs; what backward saved; dL/d(output)):\n";
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const Node& n = **it;
    const auto o = outputs.find(&n);
    const Tensor t = o == outputs.end() ? Tensor() : o->second;
    f << "  #" << n.seq << ' ' << n.op << " -> '" << n.live_output_name() << "' " << shape_str(n.output_shape) << "\n      inputs:";
    for (size_t i = 0; i < n.input_names.size(); ++i) f << (i ? ", " : " ") << '\'' << n.input_names[i] << '\'';
    f << "\n      saved: {";
    for (size_t i = 0; i < n.saved.size(); ++i) f << (i ? ", " : "") << n.saved[i];
    f << "}   " << norms(t.defined() ? t.grad() : Tensor()) << "\n";
  }
  f << "\nparameters (gradient as the optimizer used it):\n";
  for (const auto& [name, p] : params) f << "  " << name << ' ' << shape_str(p.shape()) << "  " << norms(p.grad()) << "\n";
  if (!adc_lines.empty()) f << "\narray layers:\n" << adc_lines;
}

// One output element of an array layer recomputed by hand, tile by tile (Eq. 1-3, DESIGN.md):
// the column sum y_t of each row tile from the codes the array saw, its ADC code
// yq_t = floor(clip(y_t / D, -2^(ba-1), 2^(ba-1) - 1)) and the digital sum of D * yq_t, next to
// the array_product op's own value. Direct mapping without noise only (else "").
std::string tile_example(const std::string& path, imc::ImcLayer& layer, const std::vector<std::shared_ptr<Node>>& nodes,
                         const std::unordered_map<const Node*, Tensor>& outputs) {
  const imc::AdcConfig cfg = layer.layer_config();
  if (cfg.mapping != imc::Mapping::direct || cfg.has_noise() || !cfg.enabled) return "";
  Tensor out;  // the array_product's output: what the dequantization named "<path>:out" reads
  const Node* deq = nullptr;
  for (const auto& n : nodes)
    if (n->live_output_name() == path + ":out" && n->op == "dequantize_product" && n->inputs.size() == 6 &&
        n->inputs[0].defined() && n->inputs[0].grad_fn() && n->inputs[0].grad_fn()->op == "array_product")
      out = n->inputs[0], deq = n.get();
  if (!out.defined() || out.grad_fn()->inputs.size() < 2 || !outputs.count(deq)) return "";
  const Tensor xs = out.grad_fn()->inputs[0], wq = out.grad_fn()->inputs[1];
  auto* conv = dynamic_cast<Conv2d*>(&layer.as_module());
  const int64_t N = wq.size(0), K = wq.numel() / N;
  std::vector<float> x(size_t(K), 0.0f);  // the K codes of output element [0, 0, oh, ow] (or row 0)
  int64_t oh = 0, ow = 0, Ho = 1, Wo = 1;
  // A grouped conv reads only C/groups channels per output (K = C/groups kh kw): the example below
  // gathers all C, so it is written for groups == 1 only. ImcConv2d maps only groups == 1 today;
  // this keeps the example in bounds should a grouped array layer ever reach it.
  if (conv && conv->options.groups != 1)
    return "  " + path + ": no hand-computed tile example (a grouped conv, groups " + std::to_string(conv->options.groups) +
           "; the example covers groups 1 only)\n";
  if (conv && xs.dim() == 4 && wq.dim() == 4) {
    const auto& o = conv->options;
    const int64_t C = xs.size(1), H = xs.size(2), W = xs.size(3), kh = wq.size(2), kw = wq.size(3);
    Ho = (H + 2 * o.padding - o.dilation * (kh - 1) - 1) / o.stride + 1;
    Wo = (W + 2 * o.padding - o.dilation * (kw - 1) - 1) / o.stride + 1;
    oh = Ho / 2, ow = Wo / 2;  // the middle: padding zeros nothing there
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t h = oh * o.stride - o.padding + i * o.dilation, w = ow * o.stride - o.padding + j * o.dilation;
          if (h >= 0 && h < H && w >= 0 && w < W) x[size_t((c * kh + i) * kw + j)] = xs.data()[(c * H + h) * W + w];
        }
  } else if (!conv && xs.size(-1) == K) {
    for (int64_t k = 0; k < K; ++k) x[size_t(k)] = xs.data()[k];
  } else {
    return "";
  }
  const float D = imc::adc_step(cfg);
  const quant::CodeRange r = imc::adc_codes(cfg.ba);
  std::ostringstream os;
  os << "  " << path << ", output element [0, 0" << (conv ? ", " + std::to_string(oh) + ", " + std::to_string(ow) : "")
     << "] (column 0 of the array), K = " << K << " in " << imc::row_tiles(cfg, K) << " row tile(s) of " << cfg.rows << ":\n";
  os << "    first codes the array sees xs[0..7]:";
  for (int64_t k = 0; k < std::min<int64_t>(8, K); ++k) os << ' ' << x[size_t(k)];
  os << "\n    first weight codes wq[0, 0..7]:     ";
  for (int64_t k = 0; k < std::min<int64_t>(8, K); ++k) os << ' ' << wq.data()[k];
  os << "\n";
  double digital = 0;
  for (int64_t t0 = 0; t0 < K; t0 += cfg.rows) {
    double y = 0;
    for (int64_t k = t0; k < std::min(K, t0 + cfg.rows); ++k) y += double(x[size_t(k)]) * wq.data()[k];
    const float yq = imc::adc_convert(float(y), D, r.lo, r.hi);
    digital += double(D) * yq;
    char line[200];
    std::snprintf(line, sizeof line, "    tile rows %lld-%lld: column sum y = %g, y/D = %.3f, ADC code yq = %g%s\n",
                  static_cast<long long>(t0), static_cast<long long>(std::min(K, t0 + cfg.rows) - 1), y, y / D, double(yq),
                  imc::adc_clipped(float(y), D, r.lo, r.hi) ? " (clipped)" : "");
    os << line;
  }
  const int64_t p = conv ? oh * Wo + ow : 0;
  os << "    sum of D * yq = " << digital << "; array_product's value there: " << out.data()[p] << "\n";
  // The digital side (DESIGN.md "Dequantization"): y = s_x s_w (acc + shift S) / gain + beta s_w S + bias.
  const auto& in = deq->inputs;  // acc, S (N, P), s_x, s_w, beta, bias
  const double S = in[1].data()[p], sx = in[2].data()[0], sw = in[3].data()[0];
  const double beta = in[4].defined() ? in[4].data()[0] : 0.0, bias = in[5].defined() ? in[5].data()[0] : 0.0;
  const quant::ShiftMap map = layer.input_map();
  const double y = sx * sw * (digital + map.shift * S) / map.gain + beta * sw * S + bias;
  char line[320];
  std::snprintf(line, sizeof line,
                "    dequantized: s_x %.6g, s_w %.6g, beta %.6g, bias %.6g, shift C %g, sum of wq over the window S %g:\n"
                "      y = s_x s_w (%g + %g * %g) + beta s_w S + bias = %.6g; the layer's output there: %.6g\n",
                sx, sw, beta, bias, double(map.shift), S, digital, double(map.shift), S, y,
                double(outputs.at(deq).data()[p]));
  os << line;
  return os.str();
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}
}  // namespace

void dump_training_step(const StepDumpOptions& o) {
  RAOQ_CHECK(o.out != nullptr, "step: no output stream");
  std::ostream& out = *o.out;
  if (o.threads > 0) set_num_threads(o.threads);
  const bool is_run = fs::is_directory(o.target);
  Config c = load_config(o.target, o.overrides);
  RAOQ_CHECK(!c.stages.empty(), "step: the config has no stage");
  const std::unique_ptr<Task> task = make_task(c.data, c.seed);
  c.model = task->resolve_model(c.model_given);
  task->resolve_data(c.data);
  int64_t si = 0;
  if (!o.stage.empty()) {
    si = stage_named(c, o.stage);
  } else if (is_run) {  // the stage to resume, or the last
    si = static_cast<int64_t>(c.stages.size()) - 1;
    if (fs::exists(RunDir{o.target}.last_checkpoint())) {
      const TrainState st = train_state_from_json(read_checkpoint(RunDir{o.target}.last_checkpoint()).state);
      if (st.stage < static_cast<int64_t>(c.stages.size())) si = st.stage;
    }
  }
  const StageConfig& s = c.stages[static_cast<size_t>(si)];
  std::optional<TrainState> paused;
  std::string weights;
  std::shared_ptr<Module> model = stage_model(c, si, o.target, is_run, &paused, &weights);

  const std::unique_ptr<BatchStream> loader = task->train_batches(s.batch_size, stage_seed(c.seed, static_cast<size_t>(si)));
  const int64_t spe = loader->batches_per_epoch(), total = stage_steps(s, spe);
  const int64_t step = o.step >= 0 ? o.step : paused ? paused->stage_step : 0;
  RAOQ_CHECK(step < total, "step: --step ", step, " is beyond stage ", s.name, ", which has ", total,
             " steps (0 to ", total - 1, ")");
  StepBatch batch = batch_at(*loader, step, paused);
  batch.x.set_name("input");  // the graph's leaf, by name in the walkthrough and graph.dot

  // The trainer's step (trainer.cpp run_epoch), with the graph kept for the dump.
  auto opt = make_optimizer(s, *model);
  // A paused stage resumes with its optimizer state (SGD's momentum, AdamW's moments), as the
  // trainer does (trainer.cpp, run_stage); a fresh or finished stage starts with an empty one.
  if (paused) load_optimizer(*opt, read_checkpoint(RunDir{o.target}.last_checkpoint()), RunDir{o.target}.last_checkpoint());
  const int64_t global_step = global_step_at(c, *task, si, step, paused);
  const double lr = make_schedule(s, spe, join_index("stages", static_cast<size_t>(si))).at(step);
  opt->set_lr(lr);
  opt->zero_grad();
  model->train();
  const StageStep at{batch.x, batch.y, batch.rows, step, total, c.seed, global_step};
  before_step(*model, s, at);
  Tensor logits;
  const Tensor task_loss = batch_loss(*model, batch, static_cast<float>(s.label_smoothing), &logits);
  const Tensor loss = stage_loss(*model, s, task_loss);
  const auto nodes = autograd::graph_nodes(loss);
  const auto outputs = node_outputs(loss, nodes);
  for (const auto& [node, t] : outputs) Tensor(t).retain_grad();
  fs::create_directories(o.out_dir);
  autograd::write_dot(loss, o.out_dir + "/graph.dot");
  std::map<std::string, std::string> examples;  // before backward, which frees the graph's edges
  for (const auto& [path, layer] : imc::imc_layers(*model)) examples[path] = tile_example(path, *layer, nodes, outputs);
  loss.backward();
  const bool bitaug = s.quant.bitaug && kind_of(s).on_arrays;
  const int bitaug_ba = bitaug ? imc::bitaug_bits(bitaug_config(s, c.seed), global_step) : 0;  // ba~ of the second pass
  const NamedTensors params = model->named_parameters();
  NamedTensors grad_at_ba, before;
  for (const auto& [name, p] : params) {
    if (bitaug && p.grad().defined()) grad_at_ba.push_back({"grad_at_ba." + name, p.grad().clone()});
    before.push_back({name, p.clone()});
  }
  after_backward(*model, s, at);  // BitAug's lambda_b * loss at ba~ adds to the gradients
  if (s.grad_clip > 0) clip_grad_norm(opt->params(), s.grad_clip);
  NamedTensors grads;  // copied before the update: the optimizer may rescale them in place
  for (const auto& [name, p] : params)
    if (p.grad().defined()) grads.push_back({"grad." + name, p.grad().clone()});
  opt->step();

  NamedTensors dump = {{"input", batch.x}, {"loss", loss.detach()}, {"task_loss", task_loss.detach()}};
  std::vector<float> y(batch.y.begin(), batch.y.end());
  dump.push_back({"target", Tensor::from_vector(y, {static_cast<int64_t>(y.size())})});
  std::map<std::string, int> uses;  // a module run twice (a shared activation) names two outputs alike
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const auto found = outputs.find(it->get());
    if (found == outputs.end()) continue;
    const Tensor& t = found->second;
    std::string key = is_layer_output(t.name()) ? "act." + t.name() : "op." + std::to_string((*it)->seq) + "." + (*it)->op;
    if (const int n = uses[key]++) key += "#" + std::to_string(n + 1);
    dump.push_back({key, t.detach()});
    if (t.grad().defined()) dump.push_back({key + ".grad", t.grad()});
  }
  for (size_t i = 0; i < params.size(); ++i) {
    dump.push_back({"param." + params[i].first, before[i].second});
    Tensor delta = params[i].second.clone();
    delta.flat() -= before[i].second.flat();
    dump.push_back({"update." + params[i].first, delta});
  }
  dump.insert(dump.end(), grads.begin(), grads.end());
  dump.insert(dump.end(), grad_at_ba.begin(), grad_at_ba.end());
  for (const auto& [name, b] : model->named_buffers()) dump.push_back({"buffer." + name, b});
  std::string adc_lines;
  for (const auto& [path, layer] : imc::imc_layers(*model)) {
    const imc::AdcConfig cfg = layer->layer_config();
    const float D = imc::adc_step(cfg);
    dump.push_back({"adc." + path + ".D", Tensor::scalar(D)});
    dump.push_back({"adc." + path + ".ba", Tensor::scalar(static_cast<float>(cfg.ba))});
    char line[240];
    std::snprintf(line, sizeof line, "  %s: rows %lld, bx %d, bw %d, ba %d, k %d, %s inputs, D = %g%s\n", path.c_str(),
                  static_cast<long long>(cfg.rows), cfg.bx, cfg.bw, cfg.ba, cfg.k,
                  cfg.signed_input ? "signed" : "unsigned", double(D), cfg.enabled ? "" : " (ADC bypassed)");
    adc_lines += line;
    adc_lines += examples[path];
  }
  Json meta = {{"config", c.name},   {"stage", s.name}, {"kind", s.kind},       {"stage_step", step},
               {"stage_steps", total}, {"lr", lr},      {"loss", loss.item()}, {"task_loss", task_loss.item()},
               {"weights", weights}, {"global_step", global_step}, {"optimizer_state", paused ? "resumed" : "empty"}};
  if (bitaug) {
    meta["bitaug_lambda"] = imc::bitaug_lambda(step, total);
    meta["bitaug_ba"] = bitaug_ba;  // ba~ of the second pass, drawn at the global step
  }
  save_safetensors(o.out_dir + "/step.safetensors", dump, {{"raoq.step", meta.dump()}});

  char head[512];
  std::snprintf(head, sizeof head, "raoq step: config %s, stage %s (kind %s), stage step %lld of %lld (global step %lld), lr %.6g, loss %.6g (task %.6g)%s",
                c.name.c_str(), s.name.c_str(), s.kind.c_str(), static_cast<long long>(step), static_cast<long long>(total),
                static_cast<long long>(global_step), lr, double(loss.item()), double(task_loss.item()),
                bitaug ? (", BitAug lambda_b " + std::to_string(imc::bitaug_lambda(step, total)) + " at ba~ " +
                          std::to_string(bitaug_ba)).c_str() : "");
  const std::string header = std::string(head) + "\nweights: " + weights + "\noptimizer state: " +
                             (paused ? "resumed from " + RunDir{o.target}.last_checkpoint()
                                     : std::string("empty (a fresh or finished stage's optimizer starts so)")) +
                             "\nbatch: input " + shape_str(batch.x.shape()) + ", " + std::to_string(batch.y.size()) + " targets\n";
  write_walkthrough(o.out_dir + "/walkthrough.txt", header, nodes, outputs, params, adc_lines);
  bool svg = false;
  if (std::system("command -v dot >/dev/null 2>&1") == 0)
    svg = std::system(("dot -Tsvg " + quoted(o.out_dir + "/graph.dot") + " -o " + quoted(o.out_dir + "/graph.svg")).c_str()) == 0;
  out << header << "graph: " << nodes.size() << " ops\n" << (adc_lines.empty() ? "" : "array layers:\n" + adc_lines)
      << "wrote " << o.out_dir << "/step.safetensors (" << dump.size() << " tensors), " << o.out_dir << "/graph.dot"
      << (svg ? ", graph.svg" : " (no graph.svg: Graphviz's dot is not installed)") << ", " << o.out_dir
      << "/walkthrough.txt\n";
}

}  // namespace raoq::tools
