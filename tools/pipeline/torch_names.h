// tools/pipeline/torch_names.h — which PyTorch state_dict key holds each raoq tensor.
//
// A TorchNames table has one entry per tensor of a raoq model's state_dict (parameters and
// buffers), giving the key the reference PyTorch module of tests/fixtures/make_torch_fixtures.py
// uses for it. The default tables (default_torch_names) follow the torchvision conventions
// where torchvision has the model:
//
//   raoq                                     PyTorch
//   resnet20, resnet18 (torchvision names; resnet18's imagenet stem is torchvision's resnet18)
//     layer2.0.downsample.conv.weight        layer2.0.downsample.0.weight
//     layer2.0.downsample.bn.running_mean    layer2.0.downsample.1.running_mean
//   mobilenetv2 (torchvision's mobilenet_v2 names)
//     features.0.conv.weight                 features.0.0.weight            (and .bn -> .1)
//     features.2.expand.conv.weight          features.2.conv.0.0.weight     (.bn -> conv.0.1)
//     features.2.depthwise.conv.weight       features.2.conv.1.0.weight     (conv.0.0 without expand)
//     features.2.project.conv.weight         features.2.conv.2.weight       (conv.1 without expand)
//     features.2.project.bn.weight           features.2.conv.3.weight       (conv.2 without expand)
//     classifier.weight                      classifier.1.weight            (classifier.0 is Dropout)
//   cnn-small (each conv-BN-ReLU an nn.Sequential, as torchvision's Conv2dNormActivation)
//     features.0.conv.weight                 features.0.0.weight
//     features.0.bn.running_var              features.0.1.running_var
//   gpt, gpt-tiny, bert, bert-tiny (nn.MultiheadAttention for attention; every other name as raoq's)
//     blocks.0.attn.qkv_proj.weight          blocks.0.attn.in_proj_weight
//     blocks.0.attn.qkv_proj.bias            blocks.0.attn.in_proj_bias
//     tie_head: tok_emb.weight is an alias of head.weight (PyTorch lists a tied weight twice)
//   any other model                          raoq's own names
//
// Every BatchNorm2d also has PyTorch's num_batches_tracked counter, listed in `counters`: raoq
// keeps no such count (its momentum is fixed, so the count changes nothing in eval or training).
//
// Layouts need no conversion: raoq keeps PyTorch's (conv OIHW, Linear out x in, Embedding
// vocab x d, and qkv_proj's rows [q | k | v], each head's rows contiguous, which is exactly
// in_proj_weight's), so a tensor moves as it is and only its name changes.
#pragma once

#include <string>
#include <vector>

#include "core/json_fields.h"
#include "layers/module.h"

namespace raoq::tools {

struct TorchName {
  std::string raoq;   // "layer1.0.conv1.weight": a key of the model's state_dict()
  std::string torch;  // "layer1.0.conv1.weight": the PyTorch state_dict key
  // An alias is a second PyTorch key for the same raoq tensor (a tied weight): on import it
  // must equal the first bit for bit (or stand for it when the first key is absent); on export
  // it is written as a copy.
  bool alias = false;
};

struct TorchNames {
  std::vector<TorchName> entries;     // in the model's state_dict order, aliases after their tensor
  std::vector<std::string> counters;  // PyTorch keys of the BatchNorm num_batches_tracked counters
  std::vector<std::string> ignored;   // PyTorch keys an import skips (a --map entry set to null)
};

// The default table for `model_name` (a registry name) over `model`'s state_dict.
TorchNames default_torch_names(const std::string& model_name, const Module& model);

// Applies a --map object {torch_name: raoq_name}: the raoq tensor is then read from / written to
// torch_name instead of its default key; a raoq_name of null adds torch_name to `ignored` (an
// import skips that tensor). Errors name `what` (the map's file) and the entry: a raoq_name that
// is no tensor of the model, a value that is neither a string nor null, a torch_name claimed twice.
void apply_torch_map(TorchNames& names, const Json& map, const std::string& what);

}  // namespace raoq::tools
