// tests/tools/test_text_pipeline.cpp — the language-model side of the pipeline: data kind text,
// a tiny gpt trained in full precision and then with 4-bit QAT on a small synthetic corpus,
// perplexity in evaluations and results, bitwise resume inside a stage, raoq eval, and the keys
// of the text data section.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "data/text_loader.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/cmd_generate.h"
#include "tools/commands.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/generate.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/trainer.h"

using namespace raoq;
using namespace raoq::tools;
namespace fs = std::filesystem;

namespace {

struct Interrupted {};

const std::string& corpus_dir() { return testing::text_corpus_dir(); }

Json text_config() { return testing::tiny_text_config("tinylm"); }

Results train_in(const std::string& out, const Json& config, bool resume, std::function<void(int64_t)> hook = {}) {
  return testing::train_run(out, config, "tinylm", resume, std::move(hook));
}

// The evaluation rows of a run's metrics.jsonl, in order.
std::vector<Json> eval_rows(const std::string& out) {
  std::ifstream metrics(out + "/metrics.jsonl");
  std::vector<Json> rows;
  for (std::string line; std::getline(metrics, line);)
    if (Json j = Json::parse(line); j["kind"] == "eval") rows.push_back(j);
  return rows;
}

}  // namespace

TEST_CASE("text pipeline: a tiny gpt trains, reports perplexity, and resumes bit for bit", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_textrun_");
  const Results r = train_in(out, text_config(), false);
  REQUIRE(r.table.size() == 2);
  for (const ResultRow& row : r.table) {
    CAPTURE(row.method);
    CHECK(row.metric == "test_perplexity");
    CHECK(std::isfinite(row.value));
    CHECK(row.value > 1.0);
    CHECK(row.value < 256.0);  // better than a uniform guess over the byte vocabulary after a few steps
  }
  CHECK(r.stages[0].test_loss == Approx(std::log(r.table[0].value)).epsilon(1e-9));
  // The evaluation rows carry perplexity and bits per token, consistent with the loss.
  const std::vector<Json> evals = eval_rows(out);
  for (const Json& j : evals) {
    CHECK(j["perplexity"].get<double>() == Approx(std::exp(j["loss"].get<double>())));
    CHECK(j["bits_per_token"].get<double>() == Approx(j["loss"].get<double>() / std::log(2.0)));
    CHECK(j["tokens"].get<int64_t>() > 0);
  }
  CHECK(evals.size() >= 4);  // validation and test per stage
  CHECK_THAT(testing::read_text(out + "/results.md"), Catch::Contains("| fp | - | test perplexity |"));

  // Interrupted inside the qat stage and resumed: the same parameters, bit for bit.
  const std::string cut = testing::make_temp_dir("raoq_textcut_");
  CHECK_THROWS_AS(train_in(cut, text_config(), false,
                           [](int64_t step) {
                             if (step == 8) throw Interrupted{};
                           }),
                  Interrupted);
  train_in(cut, text_config(), true);
  for (const char* stage : {"fp", "qat"}) {
    INFO(stage);
    CHECK(testing::file_bytes(out + "/checkpoints/" + stage + ".safetensors") ==
          testing::file_bytes(cut + "/checkpoints/" + stage + ".safetensors"));
  }

  // raoq eval on the qat stage's checkpoint prints the language-model figures.
  EvalArgs e;
  e.config_path = out + "/config.json";
  e.checkpoint = out + "/checkpoints/qat.safetensors";
  e.threads = 1;
  std::ostringstream text;
  CHECK(eval_command(e, text) == 0);
  CHECK_THAT(text.str(), Catch::Contains("perplexity") && Catch::Contains("bits per token"));

  // Generation: a fixed seed gives the same text; temperature 0 (and top-k 1) is greedy, token by token.
  const Config cfg = parse_config(Json::parse(testing::read_text(out + "/config.json")), "tinylm");
  auto model = build_model_for_stage(cfg, 1);
  load_model(*model, read_checkpoint(out + "/checkpoints/qat.safetensors"), "qat");
  const std::vector<int64_t> prompt{'t', 'h', 'e', ' '};
  const std::vector<int64_t> a = sample_tokens(*model, prompt, 16, {.tokens = 20, .temperature = 1.0, .seed = 7});
  CHECK(a == sample_tokens(*model, prompt, 16, {.tokens = 20, .temperature = 1.0, .seed = 7}));
  CHECK(a != sample_tokens(*model, prompt, 16, {.tokens = 20, .temperature = 1.0, .seed = 8}));
  const std::vector<int64_t> greedy = sample_tokens(*model, prompt, 16, {.tokens = 20, .temperature = 0.0});
  CHECK(greedy == sample_tokens(*model, prompt, 16, {.tokens = 20, .temperature = 1.0, .top_k = 1, .seed = 9}));
  std::vector<int64_t> ids = prompt;
  {
    autograd::NoGradGuard ng;
    model->eval();
    for (int n = 0; n < 20; ++n) {  // the greedy chain by hand, over the last 16 tokens
      const int64_t T = std::min<int64_t>(16, static_cast<int64_t>(ids.size()));
      Tensor x = Tensor::empty({1, T});
      for (int64_t t = 0; t < T; ++t) x.data()[t] = static_cast<float>(ids[ids.size() - size_t(T) + size_t(t)]);
      const Tensor logits = model->forward(x);
      const float* last = logits.data() + (T - 1) * logits.size(2);
      ids.push_back(std::max_element(last, last + logits.size(2)) - last);
    }
  }
  CHECK(std::vector<int64_t>(ids.begin() + 4, ids.end()) == greedy);
  std::ostringstream g;
  CHECK(generate_command({out, "", "the ", {.tokens = 8, .temperature = 0.0}, 1}, g) == 0);
  CHECK_THAT(g.str(), Catch::Contains("(stage qat, digital)") && Catch::Contains("\nthe "));
  fs::remove_all(out);
  fs::remove_all(cut);
}

TEST_CASE("text pipeline: a tiny bert trains on the masked objective and scores only the chosen positions",
          "[tools]") {
  Json config = text_config();
  config["name"] = "tinymlm";
  config["data"]["objective"] = "masked";
  config["model"] = {{"name", "bert"}, {"d_model", 16}, {"layers", 1}, {"heads", 2}};
  // fp, then an ADC stage with BitAug: its second pass scores the same masked positions.
  Json adc = config["stages"][1];
  adc["name"] = "adc", adc["kind"] = "adc", adc["method"] = "raoq", adc["max_steps"] = 2;
  adc["adc"] = {{"rows", 16}, {"ba", 6}};
  config["stages"] = Json::array({config["stages"][0], adc});
  const std::string out = testing::make_temp_dir("raoq_mlm_");
  const Results r = train_in(out, config, false);
  REQUIRE(r.table.size() == 4);  // fp, raoq_noft, raoq, and raoq's trainable parameters
  CHECK(r.table[3].metric == "trainable_parameters");
  for (const ResultRow& row : std::vector<ResultRow>(r.table.begin(), r.table.begin() + 3)) {
    CHECK(row.metric == "test_perplexity");
    CHECK(std::isfinite(row.value));
    CHECK(row.value > 1.0);
  }
  // 15% of each window's positions are scored, round(0.15 * 16) = 2 per full window (and
  // max(1, round(0.15 * rest)) in the final shorter one): the evaluation counts exactly those.
  const data::TextCorpus corpus({.path = corpus_dir(), .seed = 0});
  const data::TextLoader loader(corpus, data::TextTokenizer::bytes(), {.batch_size = 8, .context = 16});
  auto expected = [&](data::TextSplit split) {
    const int64_t n = loader.tokens(split) - 1, rest = n % 16;
    return 2 * (n / 16) + (rest ? std::max<int64_t>(1, std::llround(0.15 * double(rest))) : 0);
  };
  const std::vector<Json> evals = eval_rows(out);
  for (const Json& j : evals)
    CHECK(j["tokens"].get<int64_t>() ==
          expected(j["split"] == "validation" ? data::TextSplit::valid : data::TextSplit::test));
  CHECK(evals.size() == 5);  // fp: validation, test; adc: before fine-tuning, validation, test
  fs::remove_all(out);
  CHECK_THAT(testing::config_error(text_config(), {}), Catch::Equals(""));
  Json wrong = config;
  wrong["data"]["objective"] = "next_token";
  const std::string bad = testing::make_temp_dir("raoq_mlmbad_");
  CHECK_THROWS_WITH(train_in(bad, wrong, false), Catch::Contains("is bidirectional (it would see the tokens it predicts)"));
  fs::remove_all(bad);
}

TEST_CASE("text pipeline: a warm-up longer than a stage cut by max_steps is a config error naming the stage",
          "[tools]") {
  Json config = text_config();
  config["stages"][0]["schedule"] = {{"name", "cosine"}, {"warmup_epochs", 0.9}};  // 0.9 epoch: more than 6 steps
  const std::string out = testing::make_temp_dir("raoq_textwarm_");
  CHECK_THROWS_WITH(train_in(out, config, false),
                    Catch::StartsWith("config: stages[0].schedule.warmup_epochs 0.9 is ") &&
                        Catch::Contains("but stage 'fp' has only 6 steps -- shorten the warm-up or raise max_steps"));
  fs::remove_all(out);
}

TEST_CASE("text pipeline: the data keys are validated with one line naming the key", "[tools]") {
  const Json base = text_config();
  CHECK(testing::config_error(base, {}) == "");
  CHECK_THAT(testing::config_error(base, {"data.tokens=words"}),
             Catch::StartsWith("config: data.tokens must be one of bytes or chars"));
  CHECK_THAT(testing::config_error(base, {"data.context=0"}), Catch::StartsWith("config: data.context must be"));
  CHECK_THAT(testing::config_error(base, {"data.normalize={}"}),
             Catch::StartsWith("config: data.normalize is not a known key"));
  CHECK_THAT(testing::config_error(base, {"data.files={\"train\":\"a\",\"valid\":\"b\",\"test\":\"c\"}"}),
             Catch::StartsWith("config: data.files cannot be given together with root"));
  // The resolved form round-trips, and explicit split files replace root in it.
  const Config c = parse_config(base, "x");
  CHECK(to_json(parse_config(to_json(c), "x")) == to_json(c));
  Json files = base;
  files["data"].erase("root");
  files["data"]["files"] = {{"train", "/t/wiki.train.raw"}, {"valid", "/t/wiki.valid.raw"}, {"test", "/t/wiki.test.raw"}};
  const Config f = parse_config(files, "x");
  REQUIRE(f.data.text_files.size() == 3);
  CHECK(f.data.text_files[1] == "/t/wiki.valid.raw");
  CHECK_FALSE(to_json(f)["data"].contains("root"));
  CHECK(to_json(parse_config(to_json(f), "x")) == to_json(f));
}

TEST_CASE("text pipeline: a character vocabulary is stored with the run and used after the corpus changes",
          "[tools]") {
  // Its own corpus copy, so that the test can change it under the finished run.
  const std::string corpus = testing::make_temp_dir("raoq_charcorpus_");
  fs::copy_file(corpus_dir() + "/sayings", corpus + "/sayings");
  Json config = text_config();
  config["data"]["root"] = corpus;
  config["data"]["tokens"] = "chars";
  config["stages"] = Json::array({config["stages"][0]});
  const std::string out = testing::make_temp_dir("raoq_charrun_");
  train_in(out, config, false);
  const data::TextTokenizer built =
      data::TextTokenizer::chars(data::TextCorpus({.path = corpus, .seed = 0}).joined(data::TextSplit::train));
  const Json stored = Json::parse(testing::read_text(out + "/config.json"))["data"]["vocabulary"];
  REQUIRE(stored.is_object());
  CHECK(data::TextTokenizer::from_json(nlohmann::json::parse(stored.dump())) == built);
  CHECK(read_checkpoint(out + "/checkpoints/fp.safetensors").config["data"]["vocabulary"] == stored);
  CHECK(Json::parse(testing::read_text(out + "/config.json"))["model"]["vocab"] == built.vocab_size());

  // New characters in the corpus would give other ids if the vocabulary were built again: the
  // run's stored one is used, so generation decodes with the ids the model was trained on.
  { std::ofstream(corpus + "/sayings", std::ios::app) << "QXZ 0123456789 #@!\n%\n"; }
  const Config cfg = parse_config(Json::parse(testing::read_text(out + "/config.json")), "tinylm");
  CHECK(text_tokenizer(cfg.data, cfg.seed) == built);
  std::ostringstream g;
  CHECK(generate_command({out, "", "the ", {.tokens = 8, .temperature = 0.0}, 1}, g) == 0);
  CHECK_THAT(g.str(), Catch::Contains("\nthe "));
  // A resume against the changed corpus differs at the vocabulary, and says so.
  CHECK_THROWS_WITH(train_in(out, config, true), Catch::Contains("data.vocabulary"));

  // A hand-written vocabulary is checked where the config is read.
  Json bad = config;
  bad["data"]["vocabulary"] = {{"format", "raoq-text-tokenizer"}, {"version", 1}, {"kind", "chars"},
                               {"vocab_size", 3}, {"unknown_id", 0}, {"chars", "ba"}};
  CHECK_THAT(testing::config_error(bad, {}), Catch::StartsWith("config: data.vocabulary"));
  bad["data"]["tokens"] = "bytes";
  CHECK_THAT(testing::config_error(bad, {}),
             Catch::StartsWith("config: data.vocabulary is only read with tokens \"chars\""));
  fs::remove_all(out);
  fs::remove_all(corpus);
}

TEST_CASE("text pipeline: bert learns a masked character from its neighbours (it sees positions)", "[tools]") {
  // Documents that repeat one of three 8-letter alphabets: a masked letter is fixed by the letter
  // before it. A model blind to order (a bag of characters: pos_emb that never left zero) cannot
  // tell which letter of the alphabet is missing and stays near 1 in 8; with positions it is
  // near certain.
  const std::string dir = testing::make_temp_dir("raoq_abc_");
  {
    std::ofstream out(dir + "/abc");
    const char* alphabets[] = {"abcdefgh", "qrstuvwx", "01234567"};
    for (int doc = 0; doc < 300; ++doc) {
      for (int r = 0; r < 12; ++r) out << alphabets[(doc * 7) % 3];
      out << "\n%\n";
    }
  }
  Json config = testing::tiny_text_config("abc");
  config["data"] = {{"kind", "text"}, {"root", dir}, {"context", 32}, {"objective", "masked"}};
  config["model"] = {{"name", "bert"}, {"d_model", 32}, {"layers", 2}, {"heads", 2}};
  config["stages"] = Json::array({config["stages"][0]});
  config["stages"][0]["epochs"] = 200, config["stages"][0]["max_steps"] = 800;
  config["stages"][0]["batch_size"] = 32;
  config["stages"][0]["optimizer"]["lr"] = 0.003;
  config["stages"][0]["eval"]["every_epochs"] = 200;
  const std::string out = testing::make_temp_dir("raoq_abcrun_");
  const Results r = train_in(out, config, false);
  CAPTURE(r.stages[0].steps);
  CHECK(r.stages[0].test_accuracy > 90.0);
  fs::remove_all(out);
  fs::remove_all(dir);
}
