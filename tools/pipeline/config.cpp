// tools/pipeline/config.cpp — config schema: parse and validate, resolve, override, quick mode.
// What it deliberately does not do: look at the data or build the model (beyond validating
// the model's options); that happens after validation, in the trainer.
#include "tools/pipeline/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "data/text_corpus.h"
#include "data/text_tokenizer.h"
#include "models/registry.h"

namespace raoq::tools {
namespace {

DataConfig parse_text_data(JsonFields& f, DataConfig d) {
  const bool has_files = f.has("files");
  d.root = f.string("root", has_files ? "" : data::kFortunesPath);
  if (has_files) {
    if (!d.root.empty()) f.fail("files", "cannot be given together with root (name the corpus one way)");
    JsonFields t(f.object("files"), f.key_path("files"));
    for (const char* split : {"train", "valid", "test"}) d.text_files.push_back(t.string(split, std::nullopt));
    t.finish();
  } else if (d.root.empty()) {
    f.fail("root", "must name a text file or a folder of them (got \"\")");
  }
  d.tokens = f.choice("tokens", "bytes", {"bytes", "chars"});
  if (f.has("vocabulary")) {
    if (d.tokens != "chars") f.fail("vocabulary", "is only read with tokens \"chars\" (got tokens \"" + d.tokens + "\")");
    d.vocabulary = f.object("vocabulary");
    // Checked here, so a hand-edited vocabulary fails at load time naming the key.
    const auto t = data::TextTokenizer::from_json(nlohmann::json::parse(d.vocabulary.dump()),
                                                  "config: " + f.key_path("vocabulary"));
    if (t.kind() != data::TokenizerKind::chars) f.fail("vocabulary", "must be a chars vocabulary (its kind is bytes)");
  }
  d.context = f.integer("context", 128, 1, 1 << 16);
  d.eval_tokens = f.integer("eval_tokens", 0, 0);
  d.objective = f.choice("objective", "next_token", {"next_token", "masked"});
  f.finish();
  return d;
}

DataConfig parse_data(JsonFields& top) {
  JsonFields f(top.object("data", true), "data");
  DataConfig d;
  d.kind = f.choice("kind", std::nullopt, {"idx", "cifar10", "folder", "text"});
  if (d.kind == "text") return parse_text_data(f, d);
  d.root = f.string("root", std::nullopt);
  if (d.root.empty()) f.fail("root", "must name a directory (got \"\")");
  {
    JsonFields n(f.object("normalize"), "data.normalize");
    d.normalize.mean = n.numbers("mean", std::vector<double>{}, Range::any());
    d.normalize.std = n.numbers("std", std::vector<double>{}, Range::positive());
    if (d.normalize.mean.size() != d.normalize.std.size())
      n.fail("std", "must have as many values as data.normalize.mean (" + std::to_string(d.normalize.mean.size()) +
                        "), got " + std::to_string(d.normalize.std.size()));
    n.finish();
  }
  {
    JsonFields a(f.object("augment"), "data.augment");
    d.augment.random_crop_padding = a.integer("random_crop_padding", 0, 0, 64);
    d.augment.horizontal_flip = a.boolean("horizontal_flip", false);
    a.finish();
  }
  {
    JsonFields s(f.object("subset"), "data.subset");
    d.train_subset = s.integer("train", 0, 0);
    d.test_subset = s.integer("test", 0, 0);
    s.finish();
  }
  d.validation_split = f.number("validation_split", 0.0, Range::half_open(0.0, 0.5));
  if (d.kind == "folder") {
    d.image_size = f.integer("image_size", 32, 1, 4096);
    d.channels = f.integer("channels", 3, 1, 3);
    if (d.channels == 2) f.fail("channels", "must be 1 (grey) or 3 (RGB) (got 2)");
  }
  f.finish();
  return d;
}

OptimizerConfig parse_optimizer(JsonFields& stage) {
  JsonFields f(stage.object("optimizer", true), stage.key_path("optimizer"));
  OptimizerConfig o;
  o.name = f.choice("name", std::nullopt, {"sgd", "adamw"});
  if (o.name == "sgd") {
    o.lr = f.number("lr", 0.1, Range::positive());
    o.momentum = f.number("momentum", 0.9, Range::half_open(0.0, 1.0));
    o.nesterov = f.boolean("nesterov", false);
    if (o.nesterov && o.momentum == 0.0) f.fail("nesterov", "needs momentum > 0 (got momentum 0)");
  } else {
    o.lr = f.number("lr", 1e-3, Range::positive());
    const auto betas = f.numbers("betas", std::vector<double>{0.9, 0.999}, Range::half_open(0.0, 1.0));
    if (betas.size() != 2) f.fail("betas", "must be a list of two numbers (got " + std::to_string(betas.size()) + ")");
    o.beta1 = betas[0];
    o.beta2 = betas[1];
    o.eps = f.number("eps", 1e-8, Range::positive());
  }
  f.finish();
  return o;
}

ScheduleConfig parse_schedule(JsonFields& stage, int64_t epochs) {
  JsonFields f(stage.object("schedule"), stage.key_path("schedule"));
  ScheduleConfig s;
  s.name = f.choice("name", "cosine", {"cosine", "linear", "step", "constant"});
  s.warmup_epochs = f.number("warmup_epochs", 0.0, Range::non_negative());
  // A warm-up as long as the stage would leave no step at the learning rate: the schedule refuses
  // it, so it is refused here, before any work, naming the key.
  if (s.warmup_epochs >= static_cast<double>(epochs))
    f.fail("warmup_epochs", "must be less than the stage's epochs (" + std::to_string(epochs) + "), got " +
                                json_brief(f.resolved()["warmup_epochs"]));
  if (s.name == "cosine" || s.name == "linear") s.final_lr = f.number("final_lr", 0.0, Range::non_negative());
  if (s.name == "step") {
    s.step_epochs = f.integer("step_epochs", 30, 1);
    if (static_cast<double>(s.step_epochs) < s.warmup_epochs)
      f.fail("step_epochs", "must be >= warmup_epochs (" + json_brief(f.resolved()["warmup_epochs"]) +
                                "): the first decay would fall inside the warm-up (got " +
                                std::to_string(s.step_epochs) + ")");
    s.gamma = f.number("gamma", 0.1, Range{0.0, 1.0, true, false});
  }
  f.finish();
  return s;
}

StageConfig parse_stage(const Json& j, size_t index) {
  JsonFields f(j, join_index("stages", index));
  StageConfig s;
  s.kind = f.choice("kind", "fp", stage_kind_names());
  const StageKind& kind = kind_of(s);
  s.name = f.string("name", s.kind + (index ? std::to_string(index) : ""));
  if (!valid_stage_name(s.name))
    f.fail("name",
           "must be 1-64 letters, digits, '-' or '_' (it names checkpoint files), got " + json_brief(Json(s.name)));
  f.accept("resolved_layers");  // written by raoq train into a run's config.json; derived, so not read
  s.epochs = f.integer("epochs", std::nullopt, 1, 100000);
  s.max_steps = f.integer("max_steps", 0, 0);
  s.batch_size = f.integer("batch_size", 128, 1, 1 << 20);
  s.optimizer = parse_optimizer(f);
  s.schedule = parse_schedule(f, s.epochs);
  if (s.schedule.name == "cosine" || s.schedule.name == "linear") {
    if (s.schedule.final_lr > s.optimizer.lr)
      throw Error("config: " + f.key_path("schedule") + ".final_lr must be <= " + f.key_path("optimizer") + ".lr (" +
                  json_brief(Json(s.optimizer.lr)) + "), got " + json_brief(Json(s.schedule.final_lr)));
  }
  s.weight_decay = f.number("weight_decay", 0.0, Range::half_open(0.0, 1.0));
  s.no_weight_decay = f.strings("no_weight_decay", std::vector<std::string>{"*.bias", "*.scale", "*.beta"});
  s.label_smoothing = f.number("label_smoothing", 0.0, Range::half_open(0.0, 1.0));
  s.grad_clip = f.number("grad_clip", 0.0, Range::non_negative());
  {
    JsonFields e(f.object("eval"), f.key_path("eval"));
    s.eval.every_epochs = e.integer("every_epochs", 1, 1);
    s.eval.batch_size = e.integer("batch_size", 1000, 1, 1 << 20);
    e.finish();
  }
  s.init_from = f.string("init_from", "");
  s.save_checkpoint = f.boolean("save_checkpoint", true);
  if (kind.parse) kind.parse(f, s);
  s.label = f.string("label", kind.default_label ? kind.default_label(s) : s.name);
  if (s.label.empty()) f.fail("label", "must not be empty");
  f.finish();
  return s;
}

// A quantized stage continuing a model quantized the other way (A-shift's unsigned codes against
// vanilla's signed codes) would keep the other quantization: refuse it before any work.
void check_starting_point(const std::vector<StageConfig>& stages, const std::string& where) {
  const StageConfig& s = stages.back();
  if (!kind_of(s).quantized) return;
  const StageConfig* from = nullptr;
  if (s.init_from.empty()) {
    if (stages.size() >= 2) from = &stages[stages.size() - 2];
  } else {
    for (const auto& t : stages)
      if (t.name == s.init_from) from = &t;
  }
  if (!from || !kind_of(*from).quantized || from->quant.ashift == s.quant.ashift) return;
  const char* mine = s.quant.ashift ? "true" : "false";
  const char* theirs = from->quant.ashift ? "true" : "false";
  throw Error("config: " + where + ".ashift is " + mine + " but the stage it starts from (" + from->name +
              ") was trained with ashift " + theirs + "; start from a stage with ashift " + mine + " (init_from)");
}

}  // namespace

bool valid_stage_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

Config parse_config(const Json& j, const std::string& default_name) {
  JsonFields f(j, "");
  Config c;
  c.name = f.string("name", default_name);
  if (c.name.empty()) f.fail("name", "must not be empty");
  f.string("description", "");
  c.seed = static_cast<uint64_t>(f.integer("seed", 0, 0));
  c.data = parse_data(f);
  c.model_given = f.object("model", true);
  c.model = models::validate_model(c.model_given, "config", "model");
  const Json& stages = f.array("stages", true);
  if (stages.empty()) f.fail("stages", "must list at least one stage");
  std::map<std::string, size_t> seen;  // stage names to the raw stage that made them
  // A sweep's points are numbered from 1: a second sweep of the same name repeats a number.
  std::map<std::pair<std::string, int64_t>, size_t> sweep_points;
  for (size_t i = 0; i < stages.size(); ++i) {
    // A sweep stage stands for several stages; each is validated under the sweep's key path.
    const Json& raw = stages[i];
    const bool has_kind = raw.is_object() && raw.contains("kind") && raw["kind"].is_string();
    const std::string kind = has_kind ? raw["kind"].get<std::string>() : "fp";
    const StageKind* k = find_stage_kind(kind);  // unknown: parse_stage names the key
    const std::string path = join_index("stages", i), stage_name = kind + (i ? std::to_string(i) : "");
    for (const Json& one : k && k->expand ? k->expand(raw, path, stage_name) : std::vector<Json>{raw}) {
      c.stages.push_back(parse_stage(one, i));
      if (const SweepPoint& p = c.stages.back().sweep; p.active()) {  // one sweep's rows must not merge with another's
        auto [sw, fresh_point] = sweep_points.emplace(std::make_pair(p.name, p.point), i);
        if (!fresh_point)
          throw Error("config: " + join_index("stages", i) + " is point " + std::to_string(p.point) + " of sweep " +
                      json_brief(Json(p.name)) + ", which " + join_index("stages", sw->second) +
                      " already has: give each sweep its own name");
      }
      auto [it, fresh] = seen.emplace(c.stages.back().name, i);
      if (!fresh)
        throw Error("config: " + join_index("stages", i) + ".name " + json_brief(Json(c.stages.back().name)) +
                    " is already used by " + join_index("stages", it->second));
      const std::string& from = c.stages.back().init_from;
      if (!from.empty() && (seen.count(from) == 0 || seen[from] == i))
        throw Error("config: " + join_index("stages", i) + ".init_from must name an earlier stage (got " +
                    json_brief(Json(from)) + ")");
      for (const StageConfig& t : c.stages)
        if (!from.empty() && t.name == from && !t.save_checkpoint)
          throw Error("config: " + join_index("stages", i) + ".init_from names stage " + json_brief(Json(from)) +
                      ", which saves no checkpoint (save_checkpoint false; a sweep keeps its points' with "
                      "keep_checkpoints)");
      check_starting_point(c.stages, join_index("stages", i));
    }
  }
  {
    JsonFields k(f.object("checkpoint"), "checkpoint");
    c.checkpoint.every_steps = k.integer("every_steps", 500, 0);
    k.finish();
  }
  {
    JsonFields l(f.object("log"), "log");
    c.log.every_steps = l.integer("every_steps", 50, 1);
    l.finish();
  }
  {
    JsonFields k(f.object("cost"), "cost");
    c.cost = imc::cost_constants_from_json(k);
    k.finish();
  }
  f.finish();
  return c;
}

Json to_json(const Config& c) {
  Json j = Json::object();
  j["name"] = c.name;
  j["seed"] = c.seed;
  Json data = Json::object();
  data["kind"] = c.data.kind;
  data["root"] = c.data.root;
  if (c.data.kind == "text") {
    if (!c.data.text_files.empty()) {
      data.erase("root");
      data["files"] = {{"train", c.data.text_files[0]}, {"valid", c.data.text_files[1]}, {"test", c.data.text_files[2]}};
    }
    data["tokens"] = c.data.tokens;
    if (!c.data.vocabulary.is_null()) data["vocabulary"] = c.data.vocabulary;
    data["context"] = c.data.context;
    data["eval_tokens"] = c.data.eval_tokens;
    data["objective"] = c.data.objective;
  }
  if (c.data.kind != "text") {
    data["normalize"] = {{"mean", c.data.normalize.mean}, {"std", c.data.normalize.std}};
    data["augment"] = {{"random_crop_padding", c.data.augment.random_crop_padding},
                       {"horizontal_flip", c.data.augment.horizontal_flip}};
    data["subset"] = {{"train", c.data.train_subset}, {"test", c.data.test_subset}};
    data["validation_split"] = c.data.validation_split;
  }
  if (c.data.kind == "folder") {
    data["image_size"] = c.data.image_size;
    data["channels"] = c.data.channels;
  }
  j["data"] = data;
  j["model"] = c.model;
  Json stages = Json::array();
  for (const auto& s : c.stages) {
    Json st = Json::object();
    st["name"] = s.name;
    st["kind"] = s.kind;
    st["epochs"] = s.epochs;
    st["max_steps"] = s.max_steps;
    st["batch_size"] = s.batch_size;
    Json opt = {{"name", s.optimizer.name}, {"lr", s.optimizer.lr}};
    if (s.optimizer.name == "sgd") {
      opt["momentum"] = s.optimizer.momentum;
      opt["nesterov"] = s.optimizer.nesterov;
    } else {
      opt["betas"] = {s.optimizer.beta1, s.optimizer.beta2};
      opt["eps"] = s.optimizer.eps;
    }
    st["optimizer"] = opt;
    Json sched = {{"name", s.schedule.name}, {"warmup_epochs", s.schedule.warmup_epochs}};
    if (s.schedule.name == "cosine" || s.schedule.name == "linear") sched["final_lr"] = s.schedule.final_lr;
    if (s.schedule.name == "step") {
      sched["step_epochs"] = s.schedule.step_epochs;
      sched["gamma"] = s.schedule.gamma;
    }
    st["schedule"] = sched;
    st["weight_decay"] = s.weight_decay;
    st["no_weight_decay"] = s.no_weight_decay;
    st["label_smoothing"] = s.label_smoothing;
    st["grad_clip"] = s.grad_clip;
    st["eval"] = {{"every_epochs", s.eval.every_epochs}, {"batch_size", s.eval.batch_size}};
    st["init_from"] = s.init_from;
    st["label"] = s.label;
    st["save_checkpoint"] = s.save_checkpoint;
    if (const auto write = kind_of(s).write) write(s, st);
    stages.push_back(st);
  }
  j["stages"] = stages;
  j["checkpoint"] = {{"every_steps", c.checkpoint.every_steps}};
  j["log"] = {{"every_steps", c.log.every_steps}};
  j["cost"] = imc::cost_constants_to_json(c.cost);
  return j;
}

std::string config_file_of(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  const std::string inside = (fs::path(path) / "config.json").string();
  RAOQ_CHECK(fs::is_regular_file(inside, ec), "config: '", path,
             "' is a directory without a config.json, expected a config file or a run directory");
  return inside;
}

Json read_json_file(const std::string& path) {
  const std::string file = config_file_of(path);
  std::ifstream in(file, std::ios::binary);
  RAOQ_CHECK(in, "config: cannot open '", file, "' (", std::strerror(errno), ")");
  std::stringstream buffer;
  buffer << in.rdbuf();
  RAOQ_CHECK(!in.bad(), "config: cannot read '", file, "' (", std::strerror(errno), ")");
  return parse_json(buffer.str(), "config: '" + file + "'");
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Json j = read_json_file(path);
  for (const auto& o : overrides) apply_override(j, o);
  // A run directory's config.json names its run; a config file is named after the file.
  return parse_config(j, std::filesystem::path(config_file_of(path)).stem().string());
}

void make_quick(Config& c) {
  // 4096 training and 1000 test examples: every code path (steps, checkpoints, evaluations) in
  // well under a minute for the small models. Half as many steps also works, but then the
  // BatchNorm running statistics still remember their initial values and the test accuracy of
  // cnn-small reads 39% instead of 69% (measured), which looks like a broken pipeline.
  // Text: every stage stops after 16 steps and scores about 4096 tokens of valid and test.
  if (c.data.kind == "text") c.data.eval_tokens = c.data.eval_tokens ? std::min<int64_t>(c.data.eval_tokens, 4096) : 4096;
  c.data.train_subset = c.data.train_subset ? std::min<int64_t>(c.data.train_subset, 4096) : 4096;
  c.data.test_subset = c.data.test_subset ? std::min<int64_t>(c.data.test_subset, 1000) : 1000;
  // Log and checkpoint often enough that a quick run writes both mid-epoch.
  c.log.every_steps = std::min<int64_t>(c.log.every_steps, 4);
  if (c.checkpoint.every_steps > 0) c.checkpoint.every_steps = std::min<int64_t>(c.checkpoint.every_steps, 8);
  for (auto& s : c.stages) {
    s.epochs = 1;
    if (c.data.kind == "text") {  // 16 steps: no room for a warm-up given in epochs of the full corpus
      s.max_steps = s.max_steps ? std::min<int64_t>(s.max_steps, 16) : 16;
      s.schedule.warmup_epochs = 0.0;
    }
    s.schedule.warmup_epochs = std::min(s.schedule.warmup_epochs, 0.25);
    if (s.quant.lora.init_steps > 0) s.quant.lora.init_steps = std::min<int64_t>(s.quant.lora.init_steps, 4);
    s.eval.every_epochs = 1;
  }
}

}  // namespace raoq::tools
