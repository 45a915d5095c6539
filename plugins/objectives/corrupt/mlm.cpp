#include "plugins/objectives/corrupt/mlm.h"

#include "core/base/error.h"

namespace kiln::objectives {

int32_t random_ordinary(const MlmVocab& vocab, Rng& rng) {
  // Rejection: special tokens are few, so this takes one draw nearly always.
  for (;;) {
    const int64_t id = rng.below(vocab.size);
    if (size_t(id) >= vocab.special.size() || !vocab.special[size_t(id)]) return int32_t(id);
  }
}

MlmResult mask_tokens(std::span<const int32_t> ids, std::span<const uint8_t> candidate,
                      std::span<const uint8_t> word_start, const MlmOptions& options,
                      const MlmVocab& vocab, Rng& rng) {
  const size_t n = ids.size();
  KILN_CHECK(candidate.size() == n, "mlm: ", candidate.size(), " candidate flags for ", n,
             " tokens");
  KILN_CHECK(!options.whole_word || word_start.size() == n, "mlm: ", word_start.size(),
             " word-start flags for ", n, " tokens");
  KILN_CHECK(options.mask >= 0 && options.random >= 0 && options.mask + options.random <= 1 + 1e-12,
             "mlm: the mask (", options.mask, ") and random (", options.random,
             ") probabilities must be >= 0 and sum to at most 1");
  MlmResult r;
  r.inputs.assign(ids.begin(), ids.end());
  r.labels.assign(n, -100);
  r.actions.assign(n, MlmAction::none);
  auto select = [&](size_t i) {
    r.labels[i] = ids[i];
    const double u = rng.uniform();
    if (u < options.mask) {
      r.inputs[i] = vocab.mask_id;
      r.actions[i] = MlmAction::mask;
    } else if (u < options.mask + options.random) {
      r.inputs[i] = random_ordinary(vocab, rng);
      r.actions[i] = MlmAction::random;
    } else {
      r.actions[i] = MlmAction::keep;
    }
  };
  if (!options.whole_word) {
    for (size_t i = 0; i < n; ++i)
      if (candidate[i] && rng.bernoulli(options.rate)) select(i);
    return r;
  }
  // Whole words: one draw per word; a special token (not a candidate) ends a word.
  for (size_t i = 0; i < n;) {
    if (!candidate[i]) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < n && candidate[end] && !word_start[end]) ++end;
    if (rng.bernoulli(options.rate))
      for (size_t k = i; k < end; ++k) select(k);
    i = end;
  }
  return r;
}

}  // namespace kiln::objectives
