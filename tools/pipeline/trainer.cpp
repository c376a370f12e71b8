// tools/pipeline/trainer.cpp — run directory set-up, resume, and the stage / epoch / step loops.
#include "tools/pipeline/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <ostream>
#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/bitaug.h"
#include "imc/cost.h"
#include "imc/method.h"
#include "models/registry.h"
#include "models/summary.h"
#include "optim/clip.h"
#include "quant/quantizer.h"
#include "tools/pipeline/atomic_file.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/data_parallel.h"
#include "tools/pipeline/evaluate.h"
#include "tools/pipeline/environment.h"
#include "tools/pipeline/figures.h"
#include "tools/pipeline/progress.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/stage_setup.h"
#include "tools/pipeline/task.h"

namespace raoq::tools {

uint64_t stage_seed(uint64_t seed, size_t stage) { return seed * 1000003ULL + 17ULL * (stage + 1); }

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string format(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

std::string value_text(double v) { return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

// "loss 0.3412 acc 88.10%", or for a language model "loss 1.2345 ppl 3.437 bits/token 1.781 acc 61.20%".
std::string eval_summary(const EvalResult& r) {
  if (!r.per_token) return format("loss %.4f acc %.2f%%", r.loss, r.accuracy);
  return format("loss %.4f ppl %.3f bits/token %.3f", r.loss, r.perplexity(), r.bits_per_token()) +
         format(" acc %.2f%%", r.accuracy);
}

// The process's peak resident set (VmHWM), and its reset (Linux: writing 5 to clear_refs); -1
// where the system offers neither.
int64_t peak_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
  std::fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

bool reset_peak_rss() {
  release_cached_tensor_buffers();  // the stage's peak, not what earlier stages left cached
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

class Run {
 public:
  Run(Config config, const TrainOptions& options)
      : config_(std::move(config)),
        opt_(options),
        out_(*options.out),
        progress_(*options.out, options.terminal, config_.log.every_steps) {}

  Results go() {
    std::optional<autograd::AnomalyScope> anomaly;
    if (opt_.detect_anomaly) anomaly.emplace();
    try {
      prepare();
      for (auto si = static_cast<size_t>(state_.stage); si < config_.stages.size(); ++si) run_stage(si);
    } catch (...) {
      progress_.clear();
      throw;
    }
    const Results r = results();
    out_ << "\nresults: " << dir_.results_md() << "\n\n" << r.markdown() << std::flush;
    return r;
  }

 private:
  void prepare();
  void run_stage(size_t si);
  void run_epoch(const StageConfig& s, BatchStream& loader, Optimizer& opt, const Schedule& sched);
  void finish_epoch(const StageConfig& s, BatchStream& loader, Optimizer& opt);
  void finish_stage(size_t si);
  void save_last(const Optimizer* opt, const BatchStream* loader);
  void save_model(const std::string& path, const Json& info);
  // The stage, step and epoch now, for messages: "after step 12 (stage a, epoch 2)".
  std::string position() const;
  // Evaluates and refuses a non-finite loss or metric, naming `split`, the stage and the step.
  EvalResult evaluate(EvalSplit split, const char* split_name, const StageConfig& s);
  void stop_if_requested(const StageConfig& s, const Optimizer* opt, const BatchStream* loader);
  void check_state(const char* what, const StageConfig& s, double lr) const;
  Json eval_row(const char* split, const StageConfig& s, const EvalResult& r) const;
  double elapsed() const { return elapsed_base_ + since(start_); }
  double stage_elapsed() const { return stage_base_ + since(stage_start_); }
  Results results() const;
  std::shared_ptr<Module> model_through(int64_t si);
  void evaluate_before_finetune(const StageConfig& s);
  void initialize_quantizers(const StageConfig& s, size_t si);
  // A sweep point's stage test figure, cost and results row (finish_stage).
  void finish_sweep_point(const StageConfig& s, double value);
  void write_run_results();
  int64_t stage_index(const std::string& name) const;

  Config config_;
  TrainOptions opt_;
  std::ostream& out_;
  Progress progress_;
  RunDir dir_;
  Json config_json_;
  std::unique_ptr<Task> task_;
  std::shared_ptr<Module> model_;
  TrainState state_;
  std::optional<Checkpoint> resume_from_;
  MetricsLog log_;
  Clock::time_point start_ = Clock::now(), stage_start_ = Clock::now(), window_start_ = Clock::now();
  Clock::time_point epoch_start_ = Clock::now();
  int64_t epoch_examples_ = 0;  // trained in this process during the current epoch
  double elapsed_base_ = 0.0, stage_base_ = 0.0;
  // The stage's cost, over the steps this process ran: the largest tensor memory of one step, the
  // peak RSS since the stage's training began (evaluations inside it included), and what trained.
  int64_t stage_peak_tensor_bytes_ = 0, stage_peak_rss_bytes_ = -1, trainable_parameters_ = 0;
  bool stepped_ = false;  // a training step has run in this process (setup_done was called)
  std::string stage_name_;  // the stage in progress, for messages
  std::optional<EvalResult> before_finetune_;  // this process's evaluation of the stage's starting model
  Tensor cost_input_;  // one training example: the sweep points' cost is counted on it
  bool extended_ = false;  // resumed with stages appended to the run's
  bool figure_note_given_ = false;
  // Data-parallel (core/distributed.h): every rank runs all of this; only rank 0 writes the run.
  int rank_ = dist::rank(), ranks_ = dist::size();
  bool writer_ = rank_ == 0;
  void log(const Json& row) {
    if (writer_) log_.write(row);
  }
  // Whether a stop was requested, on any rank (a collective when there are several).
  bool stop_wanted() const;
};

// ", sweep rows point 3 of 10: adc.rows=256"; "" outside a sweep.
std::string sweep_position(const StageConfig& s) {
  if (!s.sweep.active()) return "";
  std::string text = ", sweep " + s.sweep.name + " point " + std::to_string(s.sweep.point) + " of " +
                     std::to_string(s.sweep.points) + ":";
  for (auto it = s.sweep.values.begin(); it != s.sweep.values.end(); ++it)
    text += " " + it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
  return text;
}

void Run::prepare() {
  namespace fs = std::filesystem;
  if (opt_.threads > 0) set_num_threads(opt_.threads);
  dir_.root = opt_.out_dir;
  std::error_code ec;
  RAOQ_CHECK(!fs::exists(dir_.root, ec) || fs::is_directory(dir_.root, ec), "train: '", dir_.root,
             "' is a file, expected a run directory");
  // Rank 0 tidies the directory; the other ranks read it only after that (the barrier).
  const bool resuming = opt_.resume && fs::exists(dir_.last_checkpoint());
  if (writer_) {
    if (const int partial = dir_.remove_partial_writes())
      out_ << "note: removed " << partial << " partial file" << (partial == 1 ? "" : "s")
           << " that an interrupted write left in " << dir_.root << "\n";
    if (!resuming && dir_.holds_run()) {
      RAOQ_CHECK(opt_.resume || opt_.overwrite, "train: '", dir_.root, "' already holds a run; pass --resume to ",
                 "continue it, --overwrite to start again, or --out DIR for a new directory");
      if (opt_.resume) out_ << "note: no checkpoint in " << dir_.root << " yet; starting the run from the beginning\n";
      dir_.clear();
    }
  }
  dist::barrier();
  if (resuming) {
    resume_from_ = read_checkpoint(dir_.last_checkpoint());
    RAOQ_CHECK(resume_from_->kind == "train", "train: '", dir_.last_checkpoint(), "' is not a training checkpoint");
  }
  task_ = make_task(config_.data, config_.seed);
  out_ << "data: " << task_->describe() << "\n";
  config_.model = task_->resolve_model(config_.model_given);
  task_->resolve_data(config_.data);
  config_json_ = to_json(config_);
  if (resume_from_) {
    // The run's config read by this version: keys added since it was written take their defaults,
    // so a run started before them still resumes (a value it set differently still stops it).
    Json theirs = resume_from_->config;
    if (theirs.is_object() && theirs.contains("stages") && theirs["stages"].is_array())
      for (Json& st : theirs["stages"])
        if (st.is_object()) st.erase("resolved_layers");
    Json resolved = theirs;
    try {
      resolved = to_json(parse_config(theirs, config_.name));
    } catch (const Error&) {  // not readable as a config: compared as written, the difference named
    }
    // Stages appended after the run's own (raoq sweep RUN adds one) extend it; nothing else may differ.
    Json mine = config_json_;
    const size_t theirs_n = resolved.contains("stages") && resolved["stages"].is_array() ? resolved["stages"].size() : 0;
    const size_t mine_n = mine["stages"].size();
    if (theirs_n > 0 && mine_n > theirs_n) mine["stages"].erase(mine["stages"].begin() + static_cast<std::ptrdiff_t>(theirs_n), mine["stages"].end());
    const std::string diff = first_difference(resolved, mine);
    RAOQ_CHECK(diff.empty(), "train: --resume: this config differs from the run's (", dir_.config(), ") at ", diff,
               "; resume with the run's settings (stages may be added after its own), or start a new run with --out DIR");
    if (mine_n > theirs_n) {
      out_ << "note: " << mine_n - theirs_n << " stage" << (mine_n - theirs_n == 1 ? "" : "s")
           << " added after the run's " << theirs_n << "; " << dir_.config() << " now lists them\n";
      extended_ = true;
    }
  }
  // The per-layer hardware of every stage with adc.overrides, as its conversion resolves them
  // (models built here draw initial weights; manual_seed below starts the run's stream afresh).
  for (size_t si = 0; si < config_.stages.size(); ++si)
    if (!config_.stages[si].quant.overrides.empty())
      config_json_["stages"][si]["resolved_layers"] =
          imc::layer_hardware_to_json(imc::layer_hardware(*model_through(static_cast<int64_t>(si))));
  if (extended_ && writer_) write_file_atomic(dir_.config(), config_json_.dump(2) + "\n");
  manual_seed(config_.seed);
  model_ = models::build_from_json(config_.model, "config", "model");
  out_ << "model: " << config_.model.at("name").get<std::string>() << ", "
       << models::with_commas(model_->num_parameters()) << " parameters; threads: " << num_threads() << "\n";
  if (resume_from_) {
    state_ = train_state_from_json(resume_from_->state);
    // The checkpoint holds the model as converted for its stage (or, between stages, the previous one).
    const int64_t n = static_cast<int64_t>(config_.stages.size());
    const int64_t through = std::min(state_.loader.is_null() ? state_.stage - 1 : state_.stage, n - 1);
    if (through >= 0) model_ = model_through(through);
    load_model(*model_, *resume_from_, dir_.last_checkpoint());
    restore_generators(*model_, state_.generators);
    if (state_.threads != num_threads() && state_.global_step > 0)  // no step taken (an import): nothing to differ
      out_ << "note: this run was checkpointed at " << state_.threads << " threads and continues at " << num_threads()
           << ": the result is reproducible, but not bitwise equal to an uninterrupted run\n";
    if (state_.ranks != ranks_)
      out_ << "note: this run was checkpointed at " << state_.ranks << " rank" << (state_.ranks == 1 ? "" : "s")
           << " and continues at " << ranks_ << " (the global batch and its order are the same; the sums are not"
           << " grouped the same, so the result is not bitwise equal to an uninterrupted run)\n";
    // The clock is not in the checkpoint: the metrics rows it had seen carry it.
    const MetricsTimes times = writer_ ? log_.open(dir_.metrics(), state_.metrics_rows) : MetricsTimes{};
    elapsed_base_ = times.seconds;
    const auto stage_time = [&](const std::string& name) {
      const auto it = times.stage_seconds.find(name);
      return it == times.stage_seconds.end() ? 0.0 : it->second;
    };
    if (!state_.loader.is_null() && state_.stage < n) stage_base_ = stage_time(config_.stages[state_.stage].name);
    for (StageSummary& f : state_.finished) {
      f.seconds = stage_time(f.name);
      if (const auto it = times.stage_memory.find(f.name); it != times.stage_memory.end())
        f.peak_tensor_bytes = it->second.first, f.peak_rss_bytes = it->second.second;
    }
    if (state_.stage < static_cast<int64_t>(config_.stages.size()))
      out_ << "resuming " << dir_.root << " at stage " << config_.stages[state_.stage].name << ", epoch "
           << state_.epoch + 1 << ", step " << state_.global_step << "\n";
    else
      out_ << dir_.root << " is already complete\n";
  } else if (writer_) {
    dir_.create();
    write_file_atomic(dir_.config(), config_json_.dump(2) + "\n");
    log_.open(dir_.metrics(), -1);
    out_ << "run directory: " << dir_.root << "\n";
  }
  if (ranks_ > 1) {
    out_ << "data-parallel: " << dist::world().describe() << ", each with its slice of every global batch\n";
    dist::require_same(model_checksum(*model_), "the model at the start");
  }
  out_ << std::flush;  // a log file is block-buffered; show the set-up before the first step
  state_.threads = num_threads();
  state_.ranks = ranks_;
}

void Run::run_stage(size_t si) {
  const StageConfig& s = config_.stages[si];
  stage_name_ = s.name;
  if (stepped_) stop_if_requested(s, nullptr, nullptr);  // between stages: last.safetensors is saved already
  if (state_.loader.is_null()) {  // the stage starts: its model is the init_from stage's, or the current one
    if (!s.init_from.empty()) {
      dist::barrier();  // rank 0 has written the stage's checkpoint
      model_ = model_through(stage_index(s.init_from));
      const std::string path = dir_.stage_checkpoint(s.init_from);
      load_model(*model_, read_checkpoint(path), path);
    }
    convert_for_stage(*model_, s, join_index("stages", si));
    if (kind_of(s).on_arrays) {
      initialize_quantizers(s, si);
      evaluate_before_finetune(s);
    }
    if (!s.quant.finetune && kind_of(s).on_arrays) {  // evaluation only: the figure before fine-tuning is the stage's
      out_ << "\nstage " << s.name << " (" << s.kind << sweep_position(s) << "): evaluated only" << std::endl;
      stage_peak_tensor_bytes_ = 0;
      stage_peak_rss_bytes_ = -1;
      trainable_parameters_ = 0;
      finish_stage(si);
      return;
    }
  }
  RAOQ_CHECK(s.batch_size % ranks_ == 0, "train: stages[", si, "].batch_size is ", s.batch_size, ", which does not ",
             "divide among the ", ranks_, " ranks: the global batch is the config's, each rank takes an equal slice");
  const std::unique_ptr<BatchStream> stream = task_->train_batches(s.batch_size, stage_seed(config_.seed, si));
  BatchStream& loader = *stream;
  const int64_t spe = loader.batches_per_epoch();
  auto opt = make_optimizer(s, *model_);
  const Schedule sched = make_schedule(s, spe, join_index("stages", si));
  if (!state_.loader.is_null()) {  // continuing inside this stage from last.safetensors
    RAOQ_CHECK(resume_from_.has_value(), "train: internal: a stage position without a checkpoint to resume from");
    load_optimizer(*opt, *resume_from_, dir_.last_checkpoint());
    loader.set_state(state_.loader);
  }
  resume_from_.reset();
  out_ << "\nstage " << s.name << " (" << s.kind << sweep_position(s) << "): " << describe_stage(s, spe) << std::endl;
  stage_start_ = window_start_ = Clock::now();
  stage_peak_tensor_bytes_ = 0;
  const bool rss_reset = reset_peak_rss();
  while (state_.epoch < s.epochs && state_.stage_step < stage_steps(s, spe)) {
    run_epoch(s, loader, *opt, sched);
    finish_epoch(s, loader, *opt);
  }
  stage_peak_rss_bytes_ = rss_reset ? peak_rss_bytes() : -1;
  trainable_parameters_ = model_->num_trainable_parameters();
  finish_stage(si);
}

void Run::run_epoch(const StageConfig& s, BatchStream& loader, Optimizer& opt, const Schedule& sched) {
  const int64_t spe = loader.batches_per_epoch();
  const int64_t total = stage_steps(s, spe);
  model_->train();
  // A stage cut short by max_steps ends inside this epoch.
  const int64_t epoch_end = std::min(spe, loader.batch_index() + (total - state_.stage_step));
  progress_.start_epoch(s.name, state_.epoch + 1, s.epochs, loader.batch_index(), epoch_end);
  epoch_start_ = Clock::now();
  epoch_examples_ = 0;
  if (!stepped_) {
    stepped_ = true;
    if (opt_.setup_done) opt_.setup_done();
  }
  while (state_.stage_step < total) {
    auto batch = loader.next();
    if (!batch) break;
    const double lr = sched.at(state_.stage_step);
    opt.set_lr(lr);
    opt.zero_grad();
    // Data-parallel: this rank's slice, its loss weight N n_r / n and its own random streams.
    std::optional<RankStreams> streams;
    float loss_weight = 1.0f;
    bool nothing_scored = false;
    if (ranks_ > 1) {
      const int64_t n_global = scored_rows(*batch);
      const bool chosen_rows = !batch->rows.empty();
      batch = rank_slice(*batch, rank_, ranks_);
      loss_weight = static_cast<float>(static_cast<double>(ranks_) * static_cast<double>(scored_rows(*batch)) /
                                       static_cast<double>(std::max<int64_t>(1, n_global)));
      if (chosen_rows && batch->y.empty()) {  // a masked LM chose no position in this slice: a stand-in
        batch->rows = {0}, batch->y = {0};    // row at weight 0 keeps the forward (and its collectives) going
        nothing_scored = true;
      }
      streams.emplace(*model_, config_.seed, state_.global_step, rank_);
    }
    StageStep step{batch->x, batch->y, batch->rows, state_.stage_step, total, config_.seed, state_.global_step};
    step.loss_weight = loss_weight;
    before_step(*model_, s, step);
    reset_tensor_memory_peak();
    Tensor logits;  // (N, K) rows: images, or the B*T positions of a language model
    double loss_value = 0.0;
    Json extra;
    try {
      Tensor task_loss = batch_loss(*model_, *batch, static_cast<float>(s.label_smoothing), &logits);
      const Tensor weighted = loss_weight == 1.0f ? task_loss : ops::scale(task_loss, loss_weight);
      Tensor loss = stage_loss(*model_, s, weighted);  // the kind's loss: + lambda_k sum kappa (W-reshape)
      loss_value = task_loss.item();
      if (opt_.detect_anomaly) check_state("the forward pass", s, lr);  // running statistics are no op's output
      RAOQ_CHECK(std::isfinite(loss_value), "train: the loss became ", value_text(loss_value), " at step ",
                 state_.global_step + 1, " (stage ", s.name, ", epoch ", state_.epoch + 1, ", lr ", lr,
                 ") -- lower optimizer.lr, add schedule.warmup_epochs or set grad_clip (--detect-anomaly names the op)");
      loss.backward();
      // The kind's further passes: BitAug's lambda_b * loss at ba~ adds to the gradients (RAOQ Eq. 9).
      extra = after_backward(*model_, s, step);
      if (ranks_ > 1 && !extra.is_null()) mean_over_ranks(extra);
    } catch (const autograd::AnomalyError& e) {
      throw Error(std::string(e.what()) + ", at step " + std::to_string(state_.global_step + 1) + " (stage " + s.name +
                  ", epoch " + std::to_string(state_.epoch + 1) + ")");
    }
    streams.reset();
    sum_gradients_over_ranks(*model_);
    if (s.grad_clip > 0) clip_grad_norm(opt.params(), s.grad_clip);
    opt.step();
    if (opt_.detect_anomaly) check_state("the optimizer step", s, lr);  // an update is no op of the graph
    stage_peak_tensor_bytes_ = std::max(stage_peak_tensor_bytes_, tensor_memory().peak_bytes);
    if (!extra.is_null()) {  // a row of the kind's own (ADC-LoRA's Eq. 12 objective), on the run's clock
      Json row = extra;
      row["seconds"] = elapsed(), row["stage_seconds"] = stage_elapsed();
      log(row);
    }
    auto n = nothing_scored ? int64_t(0) : static_cast<int64_t>(batch->y.size());
    int64_t correct = nothing_scored ? int64_t(0) : count_correct(logits, batch->y);
    if (ranks_ > 1) {  // the global batch's mean loss, correct rows and rows
      double t[3] = {loss_value * static_cast<double>(n), static_cast<double>(correct), static_cast<double>(n)};
      dist::sum_over_ranks(t, 3);
      loss_value = t[0] / std::max(1.0, t[2]);
      correct = static_cast<int64_t>(t[1]);
      n = static_cast<int64_t>(t[2]);
    }
    state_.epoch_totals.add(loss_value, correct, n);
    state_.window_totals.add(loss_value, correct, n);
    ++state_.stage_step;
    ++state_.global_step;
    epoch_examples_ += n;
    progress_.step(loader.batch_index(), state_.epoch_totals.mean_loss(), state_.epoch_totals.accuracy(),
                   static_cast<double>(epoch_examples_) / std::max(1e-9, since(epoch_start_)));
    if (state_.global_step % config_.log.every_steps == 0) {
      const double window = std::max(1e-9, since(window_start_));
      Json row = {{"kind", "train"},
                  {"stage", s.name},
                  {"epoch", state_.epoch + 1},
                  {"step", state_.global_step},
                  {"stage_step", state_.stage_step},
                  {"loss", state_.window_totals.mean_loss()},
                  {"lr", lr},
                  {"accuracy", state_.window_totals.accuracy()},
                  {"seconds", elapsed()},
                  {"stage_seconds", stage_elapsed()},
                  {"examples_per_second", static_cast<double>(state_.window_totals.examples) / window}};
      if (s.quant.bitaug && kind_of(s).on_arrays)  // the weight of this step's pass at ba~ (Eq. 9)
        row["bitaug_lambda"] = imc::bitaug_lambda(state_.stage_step - 1, total);
      log(row);
      state_.window_totals = {};
      window_start_ = Clock::now();
    }
    const int64_t every = config_.checkpoint.every_steps;
    if (every > 0 && state_.global_step % every == 0 && loader.batch_index() < spe) save_last(&opt, &loader);
    if (opt_.after_step) opt_.after_step(state_.global_step);
    stop_if_requested(s, &opt, &loader);
  }
}

// What the checked ops cannot see: buffers a forward pass updates (BatchNorm's running statistics)
// and parameters an optimizer step writes.
void Run::check_state(const char* what, const StageConfig& s, double lr) const {
  const std::string bad = first_non_finite_tensor(model_->state_dict());
  RAOQ_CHECK(bad.empty(), "detect-anomaly: ", what, " left ", bad, ", at step ", state_.global_step + 1, " (stage ",
             s.name, ", epoch ", state_.epoch + 1, ", lr ", lr, ")");
}

bool Run::stop_wanted() const {
  double wanted = opt_.stop && opt_.stop->load() ? 1.0 : 0.0;
  dist::sum_over_ranks(&wanted, 1);  // a rank that stops alone would leave the others in a collective
  return wanted > 0;
}

void Run::stop_if_requested(const StageConfig& s, const Optimizer* opt, const BatchStream* loader) {
  if (!stop_wanted()) return;
  if (opt) save_last(opt, loader);
  progress_.clear();
  // Every rank stops here together (stop_wanted agreed): one message, no MPI_Abort.
  throw dist::CollectiveError("interrupted at step " + std::to_string(state_.global_step) + " (stage " + s.name +
                              ", epoch " + std::to_string(state_.epoch + 1) + "); " + dir_.last_checkpoint() +
                              " is saved -- run the same command with --resume to continue");
}

std::string Run::position() const {
  return "after step " + std::to_string(state_.global_step) + " (stage " + stage_name_ + ", epoch " +
         std::to_string(state_.epoch + 1) + ")";
}

EvalResult Run::evaluate(EvalSplit split, const char* split_name, const StageConfig& s) {
  EvalResult r;
  try {
    r = task_->evaluate(*model_, split, s.eval.batch_size);
  } catch (const autograd::AnomalyError& e) {
    throw Error(std::string(e.what()) + ", in the " + split_name + " evaluation " + position());
  }
  // A NaN loss would be logged as null and an accuracy computed from NaN logits is noise; the
  // training loss check cannot see this (BatchNorm's running statistics, used only here, can
  // overflow while the batch statistics stay finite).
  std::vector<std::pair<const char*, double>> values = {{"loss", r.loss}, {"accuracy", r.accuracy}};
  if (r.per_token) values.insert(values.end(), {{"perplexity", r.perplexity()}, {"bits per token", r.bits_per_token()}});
  for (const auto& [what, v] : values)
    RAOQ_CHECK(std::isfinite(v), "train: the ", split_name, " ", what, " is ", value_text(v), " ", position(),
               " -- the model overflowed; lower optimizer.lr, add schedule.warmup_epochs or set grad_clip ",
               "(--detect-anomaly names the op); nothing of this state was checkpointed");
  return r;
}

void Run::save_model(const std::string& path, const Json& info) {
  if (!writer_) return;
  try {
    save_model_checkpoint(path, *model_, info, config_json_);
  } catch (const NonFiniteError& e) {
    throw Error("train: " + position() + ": " + e.what() + " -- lower optimizer.lr or set grad_clip");
  }
}

void Run::finish_epoch(const StageConfig& s, BatchStream& loader, Optimizer& opt) {
  const StepTotals t = state_.epoch_totals;
  const double seconds = since(epoch_start_);
  std::string line = s.name + " epoch " + std::to_string(state_.epoch + 1) + "/" + std::to_string(s.epochs) + ": " +
                     format("train loss %.4f acc %.2f%%", t.mean_loss(), t.accuracy()) + " (" +
                     Progress::format_duration(seconds) +
                     format(", %.0f ex/s)", static_cast<double>(epoch_examples_) / std::max(1e-9, seconds));
  const bool last = state_.epoch + 1 == s.epochs || state_.stage_step >= stage_steps(s, loader.batches_per_epoch());
  const bool due = (state_.epoch + 1) % s.eval.every_epochs == 0 || last;
  if (due) {
    const bool held_out = task_->has_validation();
    const EvalResult r =
        evaluate(held_out ? EvalSplit::validation : EvalSplit::test, held_out ? "validation" : "test", s);
    Json row = eval_row(held_out ? "validation" : "test", s, r);
    row["train_loss"] = t.mean_loss();
    row["train_accuracy"] = t.accuracy();
    log(row);
    state_.last_validation = r.accuracy;
    state_.last_validation_loss = r.loss;
    const bool best = better(*task_, r, state_.best_accuracy);
    line += " | " + std::string(held_out ? "validation" : "test") + " " + eval_summary(r);
    if (best) {
      state_.best_accuracy = result_value(*task_, r);
      if (s.save_checkpoint)
        save_model(dir_.best_checkpoint(), {{"stage", s.name},
                                          {"epoch", state_.epoch + 1},
                                          {"step", state_.global_step},
                                          {"split", held_out ? "validation" : "test"},
                                          {"accuracy", r.accuracy},
                                          {"loss", r.loss}});
      line += " (best)";
    }
  }
  line += "  [" + Progress::format_duration(stage_elapsed()) + " in stage]";
  progress_.line(line);
  state_.epoch += 1;
  state_.epoch_totals = {};
  save_last(&opt, &loader);
}

void Run::finish_stage(size_t si) {
  const StageConfig& s = config_.stages[si];
  EvalResult test;
  if (!s.quant.finetune && before_finetune_) {  // evaluation only
    test = *before_finetune_;
  } else if (task_->has_validation()) {
    test = evaluate(EvalSplit::test, "test", s);
    log(eval_row("test", s, test));
  } else {  // the last epoch's evaluation was on the test split already
    test.accuracy = state_.last_validation;
    test.loss = state_.last_validation_loss;
  }
  before_finetune_.reset();
  if (s.save_checkpoint)
    save_model(dir_.stage_checkpoint(s.name), {{"stage", s.name}, {"step", state_.global_step}, {"test_accuracy", test.accuracy}});
  StageSummary summary;
  summary.name = s.name;
  summary.kind = s.kind;
  summary.epochs = s.epochs;
  summary.steps = state_.stage_step;
  summary.test_accuracy = test.accuracy;
  summary.test_loss = test.loss;
  summary.best_validation_accuracy = state_.best_accuracy;
  summary.seconds = stage_elapsed();
  summary.trainable_parameters = trainable_parameters_;
  summary.parameters = model_->num_parameters();
  summary.peak_tensor_bytes = stage_peak_tensor_bytes_;
  summary.peak_rss_bytes = stage_peak_rss_bytes_;
  state_.finished.push_back(summary);
  log({{"kind", "stage_done"}, {"stage", s.name}, {"seconds", elapsed()}, {"stage_seconds", summary.seconds},
              {"trainable_parameters", summary.trainable_parameters}, {"parameters", summary.parameters},
              {"peak_tensor_bytes", summary.peak_tensor_bytes}, {"peak_rss_bytes", summary.peak_rss_bytes}});
  std::optional<int64_t> ba;
  if (kind_of(s).on_arrays) ba = s.quant.adc.ba;
  if (s.sweep.active()) {
    finish_sweep_point(s, result_value(*task_, test));
  } else {
    state_.rows.push_back({s.label, ba, result_metric(*task_), result_value(*task_, test)});
    // Table 4 of the paper: what an ADC stage trains (all of it, or ADC-LoRA's adapters and scales).
    if (kind_of(s).on_arrays)
      state_.rows.push_back({s.label, ba, "trainable_parameters", static_cast<double>(trainable_parameters_)});
  }
  out_ << "stage " << s.name << " done: test " << (test.per_token ? eval_summary(test) : format("accuracy %.2f%%", test.accuracy)) << " in "
       << Progress::format_duration(summary.seconds) << "; trained " << models::with_commas(trainable_parameters_)
       << " of " << models::with_commas(summary.parameters) << " parameters, peak tensor memory "
       << format("%.1f MiB", static_cast<double>(stage_peak_tensor_bytes_) / (1 << 20))
       << (stage_peak_rss_bytes_ >= 0 ? format(", peak RSS %.1f MiB", static_cast<double>(stage_peak_rss_bytes_) / (1 << 20)) : "")
       << std::endl;
  // The next stage starts from these weights with a fresh optimizer, schedule and loader.
  state_.stage = static_cast<int64_t>(si) + 1;
  state_.epoch = 0;
  state_.stage_step = 0;
  state_.loader = nullptr;
  state_.epoch_totals = state_.window_totals = {};
  state_.best_accuracy = state_.last_validation = -1.0;
  state_.last_validation_loss = 0.0;
  stage_base_ = 0.0;
  stage_start_ = Clock::now();
  save_last(nullptr, nullptr);
  write_run_results();
}

void Run::finish_sweep_point(const StageConfig& s, double value) {
  RAOQ_CHECK(!state_.sweep.empty() && state_.sweep.back().stage == s.name && !state_.sweep.back().done,
             "train: internal: sweep point ", s.name, " has no row from its evaluation before fine-tuning");
  SweepRow& row = state_.sweep.back();
  if (s.quant.finetune) row.after = value;
  row.finetune_steps = s.quant.finetune ? state_.stage_step : 0;  // the steps taken (an epoch may end it first)
  if (!cost_input_.defined()) {
    const auto batch = task_->train_batches(1, config_.seed)->next();
    RAOQ_CHECK(batch.has_value(), "train: the training data has no example to count a sweep point's cost on");
    cost_input_ = batch->x;
  }
  const imc::ModelCost cost = imc::model_cost(*model_, cost_input_, config_.cost);
  row.arrays = cost.total.arrays;
  row.conversions = cost.total.conversions;
  row.array_macs = cost.total.array_macs;
  row.digital_ops = cost.total.digital_ops;
  row.energy = cost.total.energy();
  row.done = true;
  out_ << "sweep " << s.sweep.name << " point " << s.sweep.point << " of " << s.sweep.points << ": "
       << format("%.0f arrays, %.4g ADC conversions and an energy proxy of %.4g nJ per sample", static_cast<double>(row.arrays),
                 row.conversions, row.energy * 1e9)
       << std::endl;
}

void Run::write_run_results() {
  if (!writer_) return;
  const Results r = results();
  write_results(dir_.results_json(), dir_.results_md(), r);
  // The figures beside the tables; a figure that cannot be drawn is a note, never a failed run.
  std::vector<Json> rows;
  const std::string text = read_file(dir_.metrics());
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    if (end > at) rows.push_back(Json::parse(text.substr(at, end - at), nullptr, /*allow_exceptions=*/false));
    at = end + 1;
  }
  std::string problems = write_training_curves(dir_.curves_figure(), rows, config_.name);
  const std::string table = write_results_figure(dir_.results_figure(), r);
  if (!table.empty()) problems += (problems.empty() ? "" : "; ") + table;
  if (!r.sweep.empty()) {
    write_file_atomic(dir_.sweep_csv(), sweep_csv(r));
    const std::string pareto = write_pareto_figure(dir_.pareto_figure(), r);
    if (!pareto.empty()) problems += (problems.empty() ? "" : "; ") + pareto;
  }
  if (!problems.empty() && !figure_note_given_) {
    out_ << "note: figures not drawn: " << problems << "\n";
    figure_note_given_ = true;
  }
}

void Run::save_last(const Optimizer* opt, const BatchStream* loader) {
  // Every rank holds the model rank 0 saves (a cheap check that the ranks never drifted apart).
  if (ranks_ > 1) dist::require_same(model_checksum(*model_), "the model " + position());
  if (!writer_) {
    if (ranks_ > 1) dist::barrier();  // rank 0's write
    return;
  }
  TrainState s = state_;
  if (loader) s.loader = loader->state();
  s.metrics_rows = log_.rows();
  s.generators = capture_generators(*model_);
  try {
    save_train_checkpoint(dir_.last_checkpoint(), *model_, opt, s, config_json_);
  } catch (const NonFiniteError& e) {
    throw Error("train: " + position() + ": " + e.what() + " -- lower optimizer.lr or set grad_clip");
  }
  if (ranks_ > 1) dist::barrier();  // the file is whole before any rank may end the job
}

Json Run::eval_row(const char* split, const StageConfig& s, const EvalResult& r) const {
  Json row = {{"kind", "eval"},
          {"split", split},
          {"stage", s.name},
          {"epoch", state_.epoch + 1},
          {"step", state_.global_step},
          {"loss", r.loss},
          {"accuracy", r.accuracy},
          {"seconds", elapsed()},
          {"stage_seconds", stage_elapsed()},
          {"examples_per_second", static_cast<double>(r.examples) / std::max(1e-9, r.seconds)}};
  if (r.per_token) {
    row["perplexity"] = r.perplexity();
    row["bits_per_token"] = r.bits_per_token();
    row["tokens"] = r.examples;
  }
  return row;
}

// A model with the structure it has after stage si is converted: the float model for si < 0.
// Weights are whatever building gives; the caller loads a checkpoint into it.
std::shared_ptr<Module> Run::model_through(int64_t si) {
  if (si < 0) return models::build_from_json(config_.model, "config", "model");
  const StageConfig& s = config_.stages[static_cast<size_t>(si)];
  auto m = model_through(s.init_from.empty() ? si - 1 : stage_index(s.init_from));
  convert_for_stage(*m, s, join_index("stages", static_cast<size_t>(si)));
  return m;
}

// A stage on the arrays whose activation quantizers no stage initialised (it starts from an fp
// stage): LSQ+ initialises them from the stage's first training batch (the global one), as a qat
// stage's first step would, and not from the test batch its evaluation before fine-tuning reads.
// Eval mode: BatchNorm's running statistics stay as trained.
void Run::initialize_quantizers(const StageConfig& s, size_t si) {
  bool needed = false;
  for (const auto& [path, m] : model_->named_modules())
    if (const auto* q = dynamic_cast<const quant::ActQuantizer*>(m.get())) needed = needed || !q->initialized();
  if (!needed) return;
  auto batch = task_->train_batches(s.batch_size, stage_seed(config_.seed, si))->next();
  RAOQ_CHECK(batch.has_value(), "train: stage ", s.name, " has no training batch to initialise its quantizers on");
  if (ranks_ > 1) batch = rank_slice(*batch, rank_, ranks_);
  autograd::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  model_->forward(batch->x);
  model_->train(was_training);
}

// The model it starts from, with the ADC inserted and no fine-tuning: the "<label>_noft" row.
void Run::evaluate_before_finetune(const StageConfig& s) {
  const EvalResult r = evaluate(EvalSplit::test, "test (ADC inserted, before fine-tuning)", s);
  Json row = eval_row("test", s, r);
  row["before_finetune"] = true;
  log(row);
  before_finetune_ = r;
  if (s.sweep.active()) {  // completed by finish_sweep_point; a resumed fine-tune finds it in its checkpoint
    SweepRow p;
    p.sweep = s.sweep.name;
    p.method = s.quant.method;
    p.stage = s.name;
    p.point = s.sweep.point;
    p.values = s.sweep.values;
    p.finetune_steps = s.quant.finetune ? s.max_steps : 0;
    p.metric = result_metric(*task_);
    p.before = result_value(*task_, r);
    state_.sweep.push_back(p);
  } else {
    state_.rows.push_back({s.label + "_noft", s.quant.adc.ba, result_metric(*task_), result_value(*task_, r)});
  }
  out_ << "stage " << s.name << " before fine-tuning (ADC inserted): test "
       << (r.per_token ? eval_summary(r) : format("accuracy %.2f%%", r.accuracy)) << std::endl;
}

int64_t Run::stage_index(const std::string& name) const {
  for (size_t i = 0; i < config_.stages.size(); ++i)
    if (config_.stages[i].name == name) return static_cast<int64_t>(i);
  throw Error("config: no stage named '" + name + "'");
}

Results Run::results() const {
  Results r;
  r.config_name = config_.name;
  r.model = config_.model.at("name").get<std::string>();
  r.table = state_.rows;
  r.stages = state_.finished;
  for (const SweepRow& p : state_.sweep)
    if (p.done) r.sweep.push_back(p);
  r.environment = run_environment(num_threads());  // this process's: a resumed run's last part
  return r;
}

}  // namespace

Results run_training(Config config, const TrainOptions& options) {
  RAOQ_CHECK(options.out != nullptr, "run_training: options.out must be set");
  RAOQ_CHECK(!options.out_dir.empty(), "run_training: options.out_dir must be set");
  Run run(std::move(config), options);
  return run.go();
}

}  // namespace raoq::tools
