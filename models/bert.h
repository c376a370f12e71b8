// models/bert.h — bert: gpt's blocks without the causal mask, a masked-language-model head, and
// the helper that makes masked-language-model batches.
//
// Legend: B batch, T time, V = vocab (data tokens), C = V + 1 (the table with [MASK]), n = number
// of chosen positions in a batch.
//
// The layout and paths are gpt's (models/gpt.h: tok_emb, pos_emb, blocks.<i>.{ln1, attn.qkv_proj,
// attn.out_proj, fc1, fc2, ln2}, ln_f, head), with three differences:
//   - attention is not causal: every position sees the whole sequence;
//   - the token table has C = V + 1 rows: ids 0..V-1 are data tokens, id V is [MASK] (mask_id());
//   - logits are (B, T, C); column V ([MASK]) is never a target, so training only pushes it down.
// The blocks are pre-LayerNorm, like gpt's, not post-LN as in the original BERT: pre-LN trains
// stably without learning-rate warm-up tricks, and both models then share TransformerBlock.
// The MLM head is ln_f + head, LayerNorm(D) then Linear(D, C), tied to the token table with
// tie_head. The original BERT's head puts a dense + GELU transform before its LayerNorm; we
// leave it out, since the last block's MLP already ends the trunk in a GELU MLP, so the head is
// just these two layers and stays the last Linear in module order, as the quantization pass expects.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "models/gpt.h"

namespace raoq::models {

class Bert : public TransformerLM {
 public:
  explicit Bert(const TransformerOptions& opt) : TransformerLM("Bert", opt, /*causal=*/false, opt.vocab + 1) {}
  int64_t mask_id() const { return options.vocab; }
};

struct MlmOptions {
  double select_prob = 0.15;  // fraction of each sequence's positions chosen for prediction
  double mask_prob = 0.8;     // of the chosen: replaced by [MASK]
  double random_prob = 0.1;   // of the chosen: replaced by a random data token; the rest keep theirs
};

struct MlmBatch {
  Tensor inputs;                   // (B, T) ids, chosen positions corrupted; [MASK] is id vocab
  std::vector<int64_t> targets;    // B*T, row-major: the original id at chosen positions, -1 elsewhere
  std::vector<int64_t> positions;  // the chosen flat positions b*T + t, ascending
};

// Makes a masked-language-model batch from token ids, as BERT (Devlin et al. 2019, section 3.1)
// and its reference data pipeline do.
// requires: ids (B, T), whole numbers in [0, vocab); 0 < select_prob <= 1; mask_prob, random_prob
//   >= 0 with mask_prob + random_prob <= 1.
// ensures: in each sequence exactly k = max(1, round(select_prob * T)) positions are chosen,
//   uniformly without replacement (so every batch has something to predict); each chosen
//   position, independently, becomes [MASK] (id vocab) with probability mask_prob, a uniform
//   random id in [0, vocab) with probability random_prob (it may draw the original id back, as in
//   BERT), and keeps its token otherwise. Unchosen positions are unchanged and have target -1.
//   The draws come from `gen` only, in a fixed order: the same seed gives the same batch.
MlmBatch make_mlm_batch(const Tensor& ids, int64_t vocab, Generator& gen, const MlmOptions& options = {});

// The MLM loss: mean cross-entropy over the chosen positions only.
// ops::cross_entropy has no ignore index (every row counts), so this gathers the chosen rows of
// the logits first, (B, T, C) -> (n, C), with the row gather ops::embedding (its backward
// scatters the gradient back into those rows; the other rows get none), and scores them against
// targets[positions]. A caller with its own loss can gather the same rows the same way.
// logits: (B, T, C) -> shape [].
Tensor mlm_loss(const Tensor& logits, const MlmBatch& batch);

}  // namespace raoq::models
