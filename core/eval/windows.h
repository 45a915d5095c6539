// Windows that score a document longer than the model's context: every token of the document
// is predicted exactly once, each from the tokens before it inside one window.
//
// Rolling (lm-evaluation-harness's loglikelihood_rolling: get_rolling_token_windows with
// context_len = 1, then make_disjoint_window). L = max_length, the tokens the model reads per
// window. The first window reads [prefix, t0 .. t(L-2)] and predicts t0 .. t(L-1); each later
// window predicts the next min(L, remaining) tokens, and reads the L tokens before its last
// prediction: the windows are disjoint (a full window conditions its first prediction on one
// token of the previous window only), and the last, short one takes the tokens before it as
// context so that it still reads L tokens. Worked example, L = 4, ten tokens t0..t9, prefix p:
//
//   window  model reads        scores          context (unscored)   continuation
//   1       p  t0 t1 t2        t0 t1 t2 t3     p                    t0 t1 t2 t3
//   2       t3 t4 t5 t6        t4 t5 t6 t7     t3                   t4 t5 t6 t7
//   3       t5 t6 t7 t8        t8 t9           t5 t6 t7             t8 t9
//
// so log p(doc) = sum over the windows of their continuations' log-probs, with t4 predicted
// from t3 alone and t8 from t5..t7. (lm-evaluation-harness's test: 34 tokens, L = 10 gives
// windows predicting 0-9, 10-19, 20-29 and 30-33, the last reading 23..32.)
//
// Strided (Hugging Face's "Perplexity of fixed-length models" guide). Over the sequence
// s = [prefix] + doc, windows s[b : min(b + L, |s|)] start at b = 0, S, 2S, ... (S = stride)
// until one reaches the end. A window scores only the tokens the previous one did not reach
// (its last S tokens, fewer at the end); the first scores all of s[1 : L], s[0] having
// nothing before it. As in the guide, the window holds L tokens and the prediction after its
// last one is not used, so the model reads at most L - 1 tokens per request. 1 <= S <= L - 1
// keeps at least one context token in every window. Worked example, L = 4, S = 2, s = p t0..t5:
//
//   window  s[b:e]             scores          context (unscored)   model reads
//   1       p  t0 t1 t2        t0 t1 t2        p                    p  t0 t1
//   2       t1 t2 t3 t4        t3 t4           t1 t2                t1 t2 t3
//   3       t3 t4 t5           t5              t3 t4                t3 t4
//
// Without a prefix (a tokenizer with no EOS, or prefix = "none") the document's first token
// is the prefix: context only, never scored, as in the Hugging Face guide.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/eval/loglikelihood.h"

namespace kiln::eval {

/// The rolling windows of a document (see above); empty when nothing is left to score. Each
/// request's context + continuation is at most max_length + 1 tokens. max_length >= 1.
std::vector<LoglikelihoodRequest> rolling_windows(std::span<const int32_t> tokens,
                                                  std::optional<int32_t> prefix,
                                                  int64_t max_length);

/// The strided windows of a document (see above). max_length >= 2, 1 <= stride < max_length.
std::vector<LoglikelihoodRequest> strided_windows(std::span<const int32_t> tokens,
                                                  std::optional<int32_t> prefix, int64_t max_length,
                                                  int64_t stride);

}  // namespace kiln::eval
