// tools/pipeline/torch_import.h — PyTorch state_dicts in and out of raoq models, and the run
// directory an import writes so that the training pipeline continues from it.
//
// The names come from a TorchNames table (torch_names.h); the tensors move unchanged, since raoq
// keeps PyTorch's layouts. A PyTorch file is read with load_safetensors (F32, F16, BF16 or F64
// tensors, read into float; num_batches_tracked is I64 there, read even beyond 2^24 since it is
// only checked and dropped) and written with the counters as I64, so that torch's
// load_state_dict(strict=True) finds every key of the reference modules with the dtype it keeps.
//
// What it deliberately does not do: quantizer state. PyTorch's float modules have no slot for a
// weight quantizer's scale or an activation quantizer's scale and offset, so an export from a
// qat or adc checkpoint writes the float weights only and reports how many tensors it left out
// (see raoq help export-torch). ADC-LoRA adapters are merged into their weights on export
// (W + A B as raoq's forward computes it, imc::merge_lora in tools/cmd_torch.cpp), since W alone
// is not the model that stage trained; the float module then holds the merged weight.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "layers/module.h"
#include "tools/pipeline/run_dir.h"
#include "tools/pipeline/torch_names.h"

namespace raoq::tools {

// The file's tensors under raoq's names, checked against `model`'s state_dict: every raoq tensor
// present with its shape, no tensor left over, aliases equal to their tensor (either key of a tied
// pair alone also does: safetensors.torch.save_model writes shared tensors once), counters single
// whole numbers. Errors are one line naming `file` and the tensor by both names (and both shapes):
//   import-torch: 'w.safetensors': tensor 'fc.weight' has shape [10, 32], but raoq's 'fc.weight'
//   (model resnet20) is [10, 64]
NamedTensors torch_to_raoq(const SafetensorsFile& torch, const Module& model, const TorchNames& names,
                           const std::string& model_name, const std::string& file);

struct TorchStateDict {
  NamedTensors tensors;       // PyTorch keys: the entries in table order, then the counters
  std::set<std::string> i64;  // the keys to write as I64 (the counters, 0: raoq counts no batches)
};
// `state` (a model's state_dict, or a checkpoint's "model." tensors with the prefix removed)
// under PyTorch's names. Every table entry must be present in `state` (an error names it);
// tensors of `state` outside the table are not written, and their names go to *left_out.
TorchStateDict raoq_to_torch(const NamedTensors& state, const TorchNames& names, std::vector<std::string>* left_out);

// Writes a run directory whose first stage, `stage` (kind fp), is finished with `model`'s
// weights, exactly as raoq train leaves a run after that stage: config.json (`config`, resolved),
// metrics.jsonl (one stage_done row noting `source`), checkpoints/<stage>.safetensors and
// checkpoints/last.safetensors (stage 1 next, no optimizer, the generators as they are now).
// `raoq train CONFIG --out DIR --resume`, CONFIG being `config` with stages after the first,
// then runs those stages from these weights. requires: `dir` holds no run.
void write_imported_run(const RunDir& dir, const Json& config, const std::string& stage, Module& model,
                        const std::string& source);

}  // namespace raoq::tools
