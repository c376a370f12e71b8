// tools/cmd_generate.cpp — `raoq generate`: rebuild a run's language model as a stage left it, and
// sample from it (contract in cmd_generate.h).
#include "tools/cmd_generate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <ostream>

#include "core/error.h"
#include "core/parallel.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {
namespace fs = std::filesystem;

namespace {
const char* const kGenerateHelp = R"(usage: raoq generate RUN_DIR --prompt TEXT [options]

Continues TEXT with a run's language model (a gpt trained on text data), token by token. The
model is rebuilt as its stage left it: a checkpoint of an adc stage computes on the arrays, so
the IMC model writes the text.

  --checkpoint FILE   a checkpoint of the run (default: the last finished stage's)
  --prompt TEXT       the text to continue (required)
  --tokens N          tokens to generate (default 200)
  --temperature T     0 picks the largest logit (greedy); default 1
  --top-k K           sample among the K most likely tokens only (default: all)
  --seed S            the sampling seed (default 0): a fixed seed gives the same text
  --threads N         worker threads (default: every core)
  --help              show this help
)";

int64_t whole(const std::string& option, const std::string& v, int64_t min) {
  try {
    size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= min) return n;
  } catch (const std::exception&) {
  }
  throw Error("generate: " + option + " must be an integer >= " + std::to_string(min) + " (got '" + v + "')");
}

double non_negative(const std::string& option, const std::string& v) {
  try {
    size_t used = 0;
    const double x = std::stod(v, &used);
    if (used == v.size() && x >= 0 && std::isfinite(x)) return x;
  } catch (const std::exception&) {
  }
  throw Error("generate: " + option + " must be a number >= 0 (got '" + v + "')");
}
}  // namespace

int generate_cli(const std::vector<std::string>& args, std::ostream& out) {
  GenerateArgs a;
  bool has_prompt = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& w = args[i];
    auto value = [&]() -> std::string {
      RAOQ_CHECK(i + 1 < args.size(), "generate: ", w, " needs a value");
      return args[++i];
    };
    if (w == "--help" || w == "-h") {
      out << kGenerateHelp;
      return 0;
    } else if (w == "--checkpoint") {
      a.checkpoint = value();
    } else if (w == "--prompt") {
      a.prompt = value(), has_prompt = true;
    } else if (w == "--tokens") {
      a.sample.tokens = whole(w, value(), 0);
    } else if (w == "--temperature") {
      a.sample.temperature = non_negative(w, value());
    } else if (w == "--top-k") {
      a.sample.top_k = whole(w, value(), 1);
    } else if (w == "--seed") {
      a.sample.seed = static_cast<uint64_t>(whole(w, value(), 0));
    } else if (w == "--threads") {
      a.threads = static_cast<int>(std::min<int64_t>(whole(w, value(), 1), 4096));
    } else if (!w.empty() && w[0] == '-') {
      throw Error("generate: unknown option '" + w + "'; run raoq generate --help");
    } else {
      RAOQ_CHECK(a.run_dir.empty(), "generate: unexpected argument '", w, "' (usage: raoq generate RUN_DIR --prompt TEXT)");
      a.run_dir = w;
    }
  }
  RAOQ_CHECK(!a.run_dir.empty(), "generate: missing RUN_DIR (usage: raoq generate RUN_DIR --prompt TEXT)");
  RAOQ_CHECK(has_prompt && !a.prompt.empty(), "generate: missing --prompt TEXT (the text to continue)");
  return generate_command(a, out);
}

int generate_command(const GenerateArgs& a, std::ostream& out) {
  if (a.threads > 0) set_num_threads(a.threads);
  RAOQ_CHECK(!fs::exists(a.run_dir) || fs::is_directory(a.run_dir), "generate: '", a.run_dir,
             "' is a file, expected a run directory (what raoq train wrote; name a checkpoint with --checkpoint)");
  RAOQ_CHECK(fs::exists(a.run_dir + "/config.json"), "generate: '", a.run_dir,
             "' holds no run (no config.json); pass the run directory raoq train wrote");
  const Config config = parse_config(read_json_file(a.run_dir + "/config.json"), "run");
  std::string path = a.checkpoint;
  if (path.empty())
    for (const auto& s : config.stages)
      if (fs::exists(a.run_dir + "/checkpoints/" + s.name + ".safetensors"))
        path = a.run_dir + "/checkpoints/" + s.name + ".safetensors";
  RAOQ_CHECK(!path.empty(), "generate: no stage of the run in '", a.run_dir, "' has finished yet");
  const Checkpoint ck = read_checkpoint(path);
  int64_t si = -1;  // the float model when the checkpoint names no stage (a last.safetensors mid-run: rejected below)
  if (ck.state.is_object() && ck.state.contains("stage") && ck.state["stage"].is_string())
    for (size_t i = 0; i < config.stages.size(); ++i)
      if (config.stages[i].name == ck.state["stage"].get<std::string>()) si = static_cast<int64_t>(i);
  RAOQ_CHECK(si >= 0, "generate: '", path, "' is not a stage checkpoint of this run (use <stage>.safetensors or best)");
  const data::TextTokenizer tok = text_tokenizer(config.data, config.seed);
  auto model = build_model_for_stage(config, si);
  load_model(*model, ck, path);
  const std::vector<int64_t> prompt = tok.encode(a.prompt);
  const std::vector<int64_t> ids = sample_tokens(*model, prompt, config.data.context, a.sample);
  out << "checkpoint: " << path << " (stage " << config.stages[size_t(si)].name << ", "
      << (kind_of(config.stages[size_t(si)]).on_arrays ? "on the arrays" : "digital") << ")\n"
      << a.prompt << tok.decode(ids) << "\n";
  return 0;
}

}  // namespace raoq::tools
