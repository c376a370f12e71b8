// models/gpt.h — gpt: a decoder-only transformer language model over token ids, and what bert
// (models/bert.h) shares with it: the options, the pre-LayerNorm block and the whole trunk.
//
// Legend: B batch, T time (1 <= T <= context), D = d_model, H = heads, F = mlp_ratio * D,
// V = rows of the token table (vocab for gpt; vocab + 1 for bert, whose last id is [MASK]).
//
//   path          module                               shape
//   tok_emb       Embedding (V, D)                     ids (B, T) -> (B, T, D)
//   pos_emb       parameter (context, D)               rows [0, T) added, broadcast over B
//   drop          Dropout (only when dropout > 0)
//   blocks.<i>    TransformerBlock, i in [0, layers)   (B, T, D) -> (B, T, D)
//     ln1           LayerNorm(D)
//     attn          MultiHeadAttention(D, H): attn.qkv_proj Linear(D, 3D), attn.out_proj Linear(D, D)
//     drop1         Dropout (only when dropout > 0)
//     ln2           LayerNorm(D)
//     fc1           Linear(D, F)
//     act           GELU
//     fc2           Linear(F, D)
//     drop2         Dropout (only when dropout > 0)
//   ln_f          LayerNorm(D)
//   head          Linear(D, V)                         -> logits (B, T, V)
//
// Each block is pre-LayerNorm (GPT-2): x = x + drop1(attn(ln1(x))), then x = x + drop2(fc2(act(fc1(ln2(x))))).
// gpt's attention is causal: the logits at position t depend on tokens 0..t only.
//
// Token ids enter forward() as a float tensor (B, T) of whole numbers (exact below 2^24), so
// Module's single-tensor forward(x) is the model's entry, as for every model of the registry
// (the summary feeds it zeros, a valid id). The logits are (B, T, V): reshape them to (B*T, V),
// and the targets to B*T ids, for ops::cross_entropy.
//
// Module order puts the embeddings first and the LM head last, so the head is the last Linear a
// pass meets (quant::quantize_model keeps the first and last Linear 8-bit); the embeddings are
// not Linear layers and no pass quantizes them.
//
// tie_head: the LM head's weight (V, D) is also the token table. It is registered once, as
// head.weight; tok_emb is then a TiedEmbedding that owns no parameter and reads head->weight at
// every forward, so a pass that swaps the head for a copy (quantize_model) keeps the tie.
//
// Init: tok_emb N(0, 1), pos_emb at the token table's scale (N(0, 1), or std 1/sqrt(3D) when tied),
// Linear kaiming-uniform, LayerNorm 1 and 0. A tied table
// takes the head's init, U(+-1/sqrt(D)): N(0, 1) rows would start the logits at std sqrt(D).
// pos_emb must not start at zero or far below the token rows: windows are drawn at random offsets,
// so the expected gradient is the same for every position and nearly equal rows stay nearly equal.
// A causal model still learns order from its mask; a bidirectional one is then a bag of tokens
// (bert stayed at the bag-of-characters loss with pos_emb 0, and learned slowly at std 0.02).
// What it does not do: padding masks, key/value caches for generation, attention dropout.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/json_fields.h"
#include "layers/layers.h"

namespace raoq::models {

struct TransformerOptions {
  int64_t vocab = 256;      // token ids in [0, vocab)
  int64_t context = 128;    // longest sequence: rows of pos_emb
  int64_t d_model = 256;    // D
  int64_t layers = 4;       // blocks
  int64_t heads = 4;        // H, divides D
  int64_t mlp_ratio = 4;    // F = mlp_ratio * D
  double dropout = 0.0;     // after the embeddings, attention and MLP; 0 = no Dropout modules
  bool tie_head = false;    // the LM head's weight is the token table
  bool bias = true;         // biases of every Linear (LayerNorms always have theirs)
};
// Reads every key, defaults from `preset`; heads must divide d_model.
TransformerOptions parse_transformer_options(JsonFields& f, const TransformerOptions& preset);

// x: (B, T, D) -> (B, T, D); see the file comment for the layout.
class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t d_model, int64_t heads, int64_t mlp_hidden, bool causal, bool bias, float dropout);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<LayerNorm> ln1, ln2;
  std::shared_ptr<MultiHeadAttention> attn;
  std::shared_ptr<Dropout> drop1, drop2;  // null at dropout 0
  std::shared_ptr<Linear> fc1, fc2;       // (D -> F), (F -> D)
  std::shared_ptr<GELU> act;
};

// The token lookup of a tied model: rows of a table registered elsewhere, read through `table`
// at every call (TransformerLM passes one that reads its head's weight, so this child must not
// outlive its model). ids: any shape, whole numbers in [0, V) -> (ids.shape..., D).
class TiedEmbedding : public Module {
 public:
  explicit TiedEmbedding(std::function<Tensor()> table) : Module("TiedEmbedding"), table_(std::move(table)) {}
  Tensor forward(const Tensor& ids) override;
  Tensor weight() const { return table_(); }  // (V, D)

 private:
  std::function<Tensor()> table_;
};

// The trunk of gpt and bert: ids (B, T) -> logits (B, T, table_rows).
class TransformerLM : public Module {
 public:
  TransformerLM(std::string type_name, const TransformerOptions& options, bool causal, int64_t table_rows);
  Tensor forward(const Tensor& ids) override;
  std::string extra_repr() const override;
  Tensor token_table() const;  // (V, D): tok_emb's weight, or head.weight when tied

  TransformerOptions options;
  bool causal;
  int64_t table_rows;             // V
  std::shared_ptr<Module> tok_emb;  // Embedding, or TiedEmbedding with tie_head
  Tensor pos_emb;                   // (context, D)
  std::shared_ptr<Dropout> drop;    // null at dropout 0
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<LayerNorm> ln_f;
  std::shared_ptr<Linear> head;  // (D -> V)
};

// gpt: causal attention over a table of vocab ids.
class Gpt : public TransformerLM {
 public:
  explicit Gpt(const TransformerOptions& opt) : TransformerLM("Gpt", opt, /*causal=*/true, opt.vocab) {}
};

}  // namespace raoq::models
