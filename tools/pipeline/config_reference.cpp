// tools/pipeline/config_reference.cpp — the config key reference printed by `raoq help config`.
// Kept beside nothing else so the schema in config.cpp stays short; update both together.
#include <algorithm>
#include <string>

#include "models/registry.h"
#include "tools/pipeline/config.h"

namespace raoq::tools {

std::string config_reference() {
  std::string text = R"(raoq config reference

A config is one JSON object. Keys not listed here are errors, as are values of the wrong type
or out of range: the message names the key path, e.g.
  config: stages[0].optimizer.lr must be > 0 (got -0.1)
Defaults are in parentheses. `raoq train CONFIG --print-config` shows the resolved config.
Any key can be overridden from the command line: --set stages[0].epochs=3 (also stages.0.epochs;
stages[*].epochs sets every stage).

name                  (the file name without .json) names the run directory runs/<name>
description           ("") free text
seed                  (0) seeds initialisation, shuffling and augmentation

data                  the dataset
  kind                idx (MNIST-family, .gz or raw) | cifar10 (binary batches) | folder (image folders) |
                      text (a corpus for gpt or bert)
  root                directory holding the files (idx: train-images-idx3-ubyte[.gz], ...)
  normalize.mean      ([]) per-channel mean subtracted after scaling pixels to [0, 1]
  normalize.std       ([]) per-channel standard deviation divided by (same count as mean)
  augment.random_crop_padding  (0) pad by this many pixels and crop back at a random offset
  augment.horizontal_flip      (false) flip half of the training images left-right
  subset.train        (0 = all) use a fixed random subset of this many training examples
  subset.test         (0 = all) the same for the test split
  validation_split    (0) fraction of the training split held out to choose best.safetensors;
                      0 chooses on the test split
  image_size          (folder only, 32) images are resized and cropped to image_size x image_size
  channels            (folder only, 3) 3 for RGB, 1 for grey; folders are root/train, root/test
                      of PNG (libpng), JPEG (libjpeg-turbo) or BMP files, refused one line each when bad
  text only (kind text: language modelling, data/text_corpus.h):
  root                (/usr/share/games/fortunes) a text file or a folder of them, split by whole
                      documents (lines holding only %), seeded, 90/5/5 into train/valid/test
  files               {"train": F, "valid": F, "test": F} explicit splits instead of root
                      (e.g. WikiText-2's wiki.{train,valid,test}.raw)
  tokens              (bytes) bytes: vocabulary 256 | chars: the characters of the training split
  vocabulary          (chars; written by the trainer) the character vocabulary of the run; a
                      resumed run, raoq eval and raoq generate use it instead of building it again
  context             (128) tokens per window; training draws random windows of context + 1
  eval_tokens         (0 = all) score valid/test only up to about this many targets
  objective           (next_token) next_token (gpt) | masked (bert: 15% of positions, 80/10/10)

model                 {"name": NAME, options...}; `raoq models` lists the names and options.
                      in_channels and num_classes (text: vocab and context) default to what the data has.

stages                a list of stages, run in order; each continues from the previous weights
  name                (the kind, then its index) letters, digits, - and _; names checkpoints
  kind                (fp) one of the stage kinds listed below
  init_from           ("" = the previous stage) an earlier stage whose final weights this one starts from
  epochs              number of passes over the training data
  max_steps           (0 = none) end the stage after this many steps, even inside an epoch; the
                      schedule (and BitAug's lambda_b) then spans these steps
  batch_size          (128)
  optimizer.name      sgd | adamw
    sgd:              lr (0.1), momentum (0.9), nesterov (false)
    adamw:            lr (0.001), betas ([0.9, 0.999]), eps (1e-8)
  schedule.name       (cosine) cosine | linear | step | constant, applied per step
    warmup_epochs     (0) linear warm-up from lr/steps to lr over this many epochs (fractions allowed;
                      fewer than the stage's epochs)
    cosine, linear:   final_lr (0) the lr at the last step
    step:             step_epochs (30), gamma (0.1): lr *= gamma every step_epochs epochs
  weight_decay        (0) decoupled for adamw, L2 added to the gradient for sgd
  no_weight_decay     (["*.bias", "*.scale", "*.beta"]) parameter-name patterns (* matches anything)
                      without weight decay; parameters of one dimension (norm scales) never decay
  label_smoothing     (0) in [0, 1)
  grad_clip           (0 = off) clip the global gradient L2 norm to this value
  eval.every_epochs   (1) evaluate every this many epochs (and always after the last)
  eval.batch_size     (1000)
  qat and adc:        bits (4) array layers' activation and weight bits (first and last layer: 8,
                      off the array); per_channel (false) weight scales; ashift: unsigned LSQ+ codes
                      shifted by 2^(bits-1) (true), or signed codes with zero offset (false, the
                      vanilla QAT* baseline); wreshape: lambda_k of the kurtosis loss (0 = off);
                      unsigned_inputs (["*"]) the array layers with non-negative inputs, the ones
                      A-shift applies to (a transformer: ["*.fc2"]); the others take signed codes
  adc only:           method (raoq) raoq | vanilla: the defaults of ashift, wreshape (0.002 | 0)
                      and bitaug (true | false); set any of the three for an ablation
    adc                  the hardware; every key is checked by one rule (the library's AdcConfig):
    adc.rows, adc.cols   (512, 512) array size: rows is M of Eq. 3 (the reduction length one column sums)
    adc.ba (8)           ADC bits, in [1, 16]      adc.k (4) clipping factor of Eq. 3, a positive integer
    adc.signed_input     (true) the array takes signed (A-shifted) codes; false: unsigned codes
    adc.enabled          (true) false: no ADC, the tiles' column sums are added exactly
    adc.representation   (zero_one) zero_one | minus_one_one input representation
    adc.mapping          (direct) direct | bit_sliced, for layers wider than the array's cells
    adc.slice_bits       (4) bits of the native array cells in bit_sliced mapping, in [2, 8]
    adc.weight_noise, adc.output_noise  (0) Gaussian std in weight-code steps / in ADC steps D
    adc.overrides        ([]) per-layer changes, applied in order to every layer whose path matches:
                         [{"layers": GLOB, "off_array": true, "bits": 8, ...any adc key above}]; a glob
                         matching no quantized layer is an error, and so is one whose hardware keys
                         match no array layer. off_array and bits (placement) take effect where the
                         layer is quantized: give them to the qat stage (its adc object holds only
                         overrides, without hardware keys); a later stage must agree. BitAug moves a
                         layer's own ba by the same offsets. raoq train writes each such stage's
                         resolved per-layer hardware into config.json ("resolved_layers", not read back)
    bitaug_offsets       ([-1, 1, 2]) BitAug trains at ba + one of these per step, weight cosine 1 -> 0
    bitaug_bn_update     (false) BitAug's pass at ba~ also updates BatchNorm running statistics; false:
                         only the pass at the target ba does, so eval-mode statistics describe the
                         ADC the model is evaluated and deployed with
    lora                 (none) ADC-LoRA (RAOQ Eq. 11-12): W + A B through the weight quantizer, W and
                         every other weight frozen; A, B and the quantizers' scales train
      rank (8)           r: A is (K, r), B (r, N)        alpha (0 = rank) delta = alpha/r (A B)^T
      targets            (required) globs over array-layer paths, e.g. ["*.qkv_proj", "*.fc?"]; a glob
                         matching no array layer is an error
      init (hu)          hu: A Gaussian, B zero (starts where the model was) | svd: LoftQ, W := Q_w(W - AB),
                         AB := rank-r SVD of W - Q, svd_rounds (5) times | adc_mse: hu, then init_steps
                         steps of Eq. 12 (each layer's ADC output regressed on its exact product, A and B
                         only; metrics.jsonl rows "lora_init") before the task loss
      init_steps         (adc_mse: 20, else 0) tau, counted in the stage's steps
      lr                 (0 = optimizer.lr) the adapters' learning rate (same schedule)
      train_norms        (false) LayerNorm and BatchNorm parameters train too
  sweep (adc):        methods (["vanilla", "raoq"]) and/or a list adc.ba ([6, 7, 8]): one stage per
                      (method, ba), named NAME-METHOD-baBA; init_from may map each method to its
                      start ({"vanilla": "qat_vanilla", "raoq": "qat"}); label_suffix ("") labels its rows
                      METHOD + suffix (a second sweep, e.g. "_k1"). Each adc stage first evaluates
                      the model it starts from with the ADC inserted (results row LABEL_noft)
    finetune             (true) false: the stage only evaluates its starting model on the arrays
  kind sweep:         a grid of hardware points, one adc stage per (point, method), each evaluated with
                      the ADC inserted from its method's start and optionally fine-tuned:
    grid                 (required) {"adc.ba": [5, 6, 7, 8], "adc.k": [1, 4, 16], ...}: any key path of an
                         adc stage and its values; points are the product (keys as written, the last
                         fastest), stages NAME-METHOD-<key><value>... (NAME-METHOD-pN otherwise)
    methods, init_from   as for the adc sweep above (default ["raoq"])
    finetune_steps       (0 = evaluate only) steps of each point's fine-tune (its max_steps)
    keep_checkpoints     (false) write each point's stage checkpoint (save_checkpoint)
    any adc stage key    the points' common settings (adc, bits, bitaug, optimizer, batch_size, ...)
                      Each point adds a row to results.json's "sweep" (before and after its fine-tune,
                      arrays, ADC conversions, array MACs, digital ops and energy proxy per sample,
                      on the Pareto front or not), results.md, sweep.csv and pareto.png / .svg
  save_checkpoint     (true) false: no checkpoints/NAME.safetensors (nor best) for the stage; no later
                      stage may start from it
  label               (the stage name; adc: its method) the method name of the stage's results rows

checkpoint.every_steps  (500) write last.safetensors every this many steps (and at epoch ends);
                        0 = at epoch ends only
log.every_steps         (50) a metrics.jsonl row (and a plain progress line off a terminal)
                        every this many steps
cost                    the energy proxy of `raoq inspect --cost` (imc/cost.h; a proxy, not a measurement):
                        E = conversions x adc_fom x 2^ba + array MACs x slice pairs x array_mac
                            + digital ops x digital_op
  adc_fom               (5e-15) J per conversion step, Walden FoM (Murmann's ADC survey: SAR about 1-10 fJ)
  array_mac             (1e-14) J per multiply-accumulate in an array (IMC macros: about 5-50 fJ at 4 bits)
  digital_op            (2.3e-13) J per digital op, an 8-bit MAC (Horowitz ISSCC 2014, 45 nm: 0.2 + 0.03 pJ)

Stage kinds:
)";
  for (const auto& k : stage_kinds()) text += "  " + k.name + std::string(8 - std::min<size_t>(7, k.name.size()), ' ') + k.help + "\n";
  text += "\nModels:\n";
  for (const auto& m : models::available_models())
    text += "  " + m.name + ": " + m.summary + "\n    options: " + m.options + "\n";
  return text;
}

}  // namespace raoq::tools
