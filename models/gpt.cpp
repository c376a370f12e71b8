// models/gpt.cpp — the transformer block, the tied token lookup and the gpt/bert trunk (layout
// and legend in gpt.h). Every op carries its own backward; this file only arranges modules.
#include "models/gpt.h"

#include <cmath>
#include <vector>

#include "core/ops.h"
#include "layers/init.h"

namespace raoq::models {

TransformerOptions parse_transformer_options(JsonFields& f, const TransformerOptions& preset) {
  // Ids travel as floats, exact below 2^24; bert adds one id ([MASK]) above the vocabulary.
  constexpr int64_t kMaxVocab = (int64_t{1} << 24) - 1;
  TransformerOptions o;
  o.vocab = f.integer("vocab", preset.vocab, 1, kMaxVocab);
  o.context = f.integer("context", preset.context, 1, 1 << 20);
  o.d_model = f.integer("d_model", preset.d_model, 1, 1 << 16);
  o.layers = f.integer("layers", preset.layers, 1, 1024);
  o.heads = f.integer("heads", preset.heads, 1, 1 << 16);
  if (o.d_model % o.heads != 0)
    f.fail("heads", "must divide d_model (" + std::to_string(o.d_model) + "), got " + std::to_string(o.heads));
  o.mlp_ratio = f.integer("mlp_ratio", preset.mlp_ratio, 1, 64);
  o.dropout = f.number("dropout", preset.dropout, Range::half_open(0.0, 1.0));
  o.tie_head = f.boolean("tie_head", preset.tie_head);
  o.bias = f.boolean("bias", preset.bias);
  return o;
}

TransformerBlock::TransformerBlock(int64_t d_model, int64_t heads, int64_t mlp_hidden, bool causal, bool bias,
                                   float dropout)
    : Module("TransformerBlock") {
  // Registration order is module order (and draw order from the default generator): the
  // benchmark's former gpt-tiny drew ln1, attn, ln2, fc1, fc2 in this order.
  register_module("ln1", ln1, std::make_shared<LayerNorm>(d_model));
  register_module("attn", attn, std::make_shared<MultiHeadAttention>(d_model, heads, causal, bias));
  if (dropout > 0) register_module("drop1", drop1, std::make_shared<Dropout>(dropout));
  register_module("ln2", ln2, std::make_shared<LayerNorm>(d_model));
  register_module("fc1", fc1, std::make_shared<Linear>(d_model, mlp_hidden, bias));
  register_module("act", act, std::make_shared<GELU>());
  register_module("fc2", fc2, std::make_shared<Linear>(mlp_hidden, d_model, bias));
  if (dropout > 0) register_module("drop2", drop2, std::make_shared<Dropout>(dropout));
}

Tensor TransformerBlock::forward(const Tensor& x) {  // x: (B, T, D) -> (B, T, D)
  Tensor a = attn->forward(ln1->forward(x));         // (B, T, D)
  if (drop1) a = drop1->forward(a);
  Tensor h = ops::add(x, a);
  Tensor m = fc2->forward(act->forward(fc1->forward(ln2->forward(h))));  // (B, T, F) inside
  if (drop2) m = drop2->forward(m);
  return ops::add(h, m);
}

Tensor TiedEmbedding::forward(const Tensor& ids) {  // ids: (...) -> (..., D)
  RAOQ_CHECK(ids.defined(), label(), ": ids tensor is undefined");
  const Tensor table = weight();  // (V, D)
  const int64_t V = table.size(0);
  std::vector<int64_t> indices(static_cast<size_t>(ids.numel()));
  const float* v = ids.data();
  for (size_t i = 0; i < indices.size(); ++i) {
    RAOQ_CHECK(std::floor(v[i]) == v[i] && v[i] >= 0 && v[i] < static_cast<float>(V), label(), ": id ", v[i],
               " at flat position ", i, " is not a whole number in [0, ", V, ")");
    indices[i] = static_cast<int64_t>(v[i]);
  }
  Tensor y = ops::embedding(table, indices, ids.shape());
  if (!path().empty()) y.set_name(path() + ":out");
  return y;
}

TransformerLM::TransformerLM(std::string type_name, const TransformerOptions& opt, bool causal_, int64_t rows)
    : Module(std::move(type_name)), options(opt), causal(causal_), table_rows(rows) {
  const int64_t D = opt.d_model;
  const float p = static_cast<float>(opt.dropout);
  if (opt.tie_head)
    register_module("tok_emb", tok_emb, std::make_shared<TiedEmbedding>([this] { return head->weight; }));
  else
    register_module("tok_emb", tok_emb, std::make_shared<Embedding>(rows, D));
  // At the token table's scale: N(0, 1) rows, or the tied head's U(+-1/sqrt(D)) (std 1/sqrt(3D)).
  const float pos_std = opt.tie_head ? 1.0f / std::sqrt(3.0f * static_cast<float>(D)) : 1.0f;
  pos_emb = register_parameter("pos_emb", init::normal({opt.context, D}, 0.0f, pos_std));
  if (p > 0) register_module("drop", drop, std::make_shared<Dropout>(p));
  register_module("blocks", blocks, std::make_shared<Sequential>());
  for (int64_t i = 0; i < opt.layers; ++i)
    blocks->push_back(std::make_shared<TransformerBlock>(D, opt.heads, opt.mlp_ratio * D, causal, opt.bias, p));
  register_module("ln_f", ln_f, std::make_shared<LayerNorm>(D));
  register_module("head", head, std::make_shared<Linear>(D, rows, opt.bias));
}

Tensor TransformerLM::forward(const Tensor& ids) {  // ids: (B, T) -> logits (B, T, V)
  RAOQ_CHECK(ids.defined() && ids.dim() == 2 && ids.size(1) >= 1 && ids.size(1) <= options.context, label(),
             ": expected token ids (B, T) with 1 <= T <= context (", options.context, "), got ",
             ids.defined() ? shape_str(ids.shape()) : "an undefined tensor");
  const int64_t T = ids.size(1);
  Tensor x = ops::add(tok_emb->forward(ids), ops::slice(pos_emb, 0, 0, T));  // (B, T, D) + (T, D)
  if (drop) x = drop->forward(x);
  x = blocks->forward(x);
  return head->forward(ln_f->forward(x));  // (B, T, V)
}

Tensor TransformerLM::token_table() const {
  if (auto tied = std::dynamic_pointer_cast<TiedEmbedding>(tok_emb)) return tied->weight();
  auto embedding = std::dynamic_pointer_cast<Embedding>(tok_emb);
  RAOQ_CHECK(embedding != nullptr, label(), ": tok_emb is a ", tok_emb->type_name(),
             ", which has no table to return (expected Embedding or TiedEmbedding)");
  return embedding->weight;
}

std::string TransformerLM::extra_repr() const {
  const auto s = [](int64_t v) { return std::to_string(v); };
  std::string dropout = std::to_string(options.dropout);
  dropout.erase(dropout.find_last_not_of('0') + 1);  // 0.100000 -> 0.1
  if (!dropout.empty() && dropout.back() == '.') dropout.pop_back();
  return "vocab=" + s(options.vocab) + ", table_rows=" + s(table_rows) + ", context=" + s(options.context) +
         ", d_model=" + s(options.d_model) + ", layers=" + s(options.layers) + ", heads=" + s(options.heads) +
         ", mlp_ratio=" + s(options.mlp_ratio) + ", dropout=" + dropout + ", causal=" + (causal ? "true" : "false") +
         ", tie_head=" + (options.tie_head ? "true" : "false") + ", bias=" + (options.bias ? "true" : "false");
}

}  // namespace raoq::models
