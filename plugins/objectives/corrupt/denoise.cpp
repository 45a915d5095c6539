#include "plugins/objectives/corrupt/denoise.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"

namespace kiln::objectives {

InfillResult text_infill(std::span<const int32_t> ids, std::span<const uint8_t> candidate,
                         std::span<const uint8_t> word_start, const InfillOptions& options,
                         const MlmVocab& vocab, Rng& rng) {
  const size_t n = ids.size();
  KILN_CHECK(candidate.size() == n && word_start.size() == n, "text infilling: ", candidate.size(),
             " candidate and ", word_start.size(), " word-start flags for ", n, " tokens");
  KILN_CHECK(options.lambda > 0, "text infilling: the Poisson mean must be > 0, got ",
             options.lambda);
  KILN_CHECK(options.ratio >= 0 && options.ratio <= 1,
             "text infilling: the mask ratio must be in [0, 1], got ", options.ratio);
  InfillResult r;
  // The words: the first token of each (a special token ends the word before it).
  std::vector<int64_t> word_of(n, -1);
  int64_t words = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!candidate[i]) continue;
    if (word_start[i] || i == 0 || !candidate[i - 1]) ++words;
    word_of[i] = words - 1;
  }
  r.budget = int64_t(std::ceil(double(words) * options.ratio - 1e-9));
  if (r.budget == 0) {
    r.tokens.assign(ids.begin(), ids.end());
    return r;
  }
  // Span lengths until the budget is reached; the last one cut so that they sum to it.
  int64_t sum = 0;
  while (sum < r.budget) {
    int64_t len = rng.poisson(options.lambda);
    if (sum + len > r.budget) len = r.budget - sum;
    r.lengths.push_back(len);
    sum += len;
  }
  std::vector<int64_t> spans;  // the non-empty ones, in the order drawn
  int64_t inserts = 0;
  for (int64_t len : r.lengths) {
    if (len > 0)
      spans.push_back(len);
    else
      ++inserts;
  }
  // Where the spans go: the words left unmasked fill the k + 1 gaps around the k spans, the
  // gaps between spans at least one word wide (so that spans stay apart and each keeps its own
  // mask) when there are enough words, every such arrangement equally likely (stars and bars).
  const int64_t k = int64_t(spans.size());
  const int64_t unmasked = words - r.budget;
  const int64_t between = std::min(k - 1, unmasked);  // gaps given their one word up front
  const int64_t free_words = unmasked - between;
  std::vector<int64_t> bars = rng.sample(free_words + k, k);
  std::sort(bars.begin(), bars.end());
  std::vector<uint8_t> masked_word(size_t(words), 0);
  std::vector<uint8_t> span_start(size_t(words), 0);
  int64_t w = 0;
  for (int64_t s = 0; s < k; ++s) {
    // Free words before span s: bars[s] - s (bars are positions among free words + spans).
    const int64_t gap_free = (bars[size_t(s)] - s) - (s > 0 ? bars[size_t(s - 1)] - (s - 1) : 0);
    w += gap_free + (s > 0 && s <= between ? 1 : 0);
    span_start[size_t(w)] = 1;
    for (int64_t j = 0; j < spans[size_t(s)]; ++j) masked_word[size_t(w + j)] = 1;
    w += spans[size_t(s)];
  }
  // One token per span (the mask, or a random token), the rest of its tokens removed; a special
  // token inside a span stays, and the span's words after it get a mask of their own.
  std::vector<int32_t> out;
  out.reserve(n + size_t(inserts));
  for (size_t i = 0; i < n; ++i) {
    const int64_t wi = word_of[i];
    if (wi < 0 || !masked_word[size_t(wi)]) {
      out.push_back(ids[i]);
      continue;
    }
    ++r.masked;
    const bool first = span_start[size_t(wi)] && (i == 0 || word_of[i - 1] != wi);
    const bool after_special = i > 0 && word_of[i - 1] < 0;
    if (first || after_special)
      out.push_back(rng.bernoulli(options.random_ratio) ? random_ordinary(vocab, rng)
                                                        : vocab.mask_id);
  }
  // Zero-length spans: mask tokens inserted at random places (fairseq's add_insertion_noise):
  // the result has out.size() + inserts positions, of which `inserts` random ones are masks.
  if (inserts > 0) {
    const int64_t total = int64_t(out.size()) + inserts;
    std::vector<uint8_t> is_insert(size_t(total), 0);
    for (int64_t p : rng.sample(total, inserts)) is_insert[size_t(p)] = 1;
    r.tokens.reserve(size_t(total));
    size_t j = 0;
    for (int64_t p = 0; p < total; ++p) {
      if (is_insert[size_t(p)])
        r.tokens.push_back(rng.bernoulli(options.random_ratio) ? random_ordinary(vocab, rng)
                                                               : vocab.mask_id);
      else
        r.tokens.push_back(out[j++]);
    }
  } else {
    r.tokens = std::move(out);
  }
  return r;
}

std::vector<int32_t> permute_sentences(std::span<const int32_t> ids,
                                       std::span<const uint8_t> sentence_end, double ratio,
                                       Rng& rng) {
  const size_t n = ids.size();
  KILN_CHECK(sentence_end.size() == n, "sentence permutation: ", sentence_end.size(),
             " sentence-end flags for ", n, " tokens");
  // Sentence boundaries: after the last of each run of end tokens.
  std::vector<size_t> bounds{0};
  for (size_t i = 0; i + 1 < n; ++i)
    if (sentence_end[i] && !sentence_end[i + 1]) bounds.push_back(i + 1);
  if (n > 0) bounds.push_back(n);
  const int64_t sentences = int64_t(bounds.size()) - 1;
  if (sentences < 2 || ratio <= 0) return std::vector<int32_t>(ids.begin(), ids.end());
  const int64_t k =
      std::min<int64_t>(sentences, int64_t(std::ceil(double(sentences) * ratio - 1e-9)));
  // fairseq: the chosen places receive the chosen sentences in a random order.
  std::vector<int64_t> places = rng.sample(sentences, k);
  std::vector<int64_t> moved = places;
  rng.shuffle(moved);
  std::vector<int64_t> order(static_cast<size_t>(sentences));
  for (int64_t i = 0; i < sentences; ++i) order[size_t(i)] = i;
  for (int64_t j = 0; j < k; ++j) order[size_t(places[size_t(j)])] = moved[size_t(j)];
  std::vector<int32_t> out;
  out.reserve(n);
  for (int64_t s : order)
    out.insert(out.end(), ids.begin() + ptrdiff_t(bounds[size_t(s)]),
               ids.begin() + ptrdiff_t(bounds[size_t(s) + 1]));
  return out;
}

std::vector<int32_t> delete_tokens(std::span<const int32_t> ids, std::span<const uint8_t> candidate,
                                   double ratio, Rng& rng) {
  KILN_CHECK(candidate.size() == ids.size(), "token deletion: ", candidate.size(),
             " candidate flags for ", ids.size(), " tokens");
  std::vector<int32_t> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    if (!candidate[i] || !rng.bernoulli(ratio)) out.push_back(ids[i]);
  return out;
}

}  // namespace kiln::objectives
