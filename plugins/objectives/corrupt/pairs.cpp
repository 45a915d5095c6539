#include "plugins/objectives/corrupt/pairs.h"

#include "core/base/error.h"

namespace kiln::objectives {

SentencePair make_sentence_pair(std::span<const int32_t> row, std::span<const int32_t> other,
                                PairTask task, int32_t cls, int32_t sep, int64_t length, Rng& rng) {
  KILN_CHECK(length >= 5,
             "sentence pairs: a pair needs at least 5 positions ([CLS] a [SEP] b "
             "[SEP]), got a length of ",
             length);
  const int64_t n = length - 3;
  KILN_CHECK(int64_t(row.size()) >= n, "sentence pairs: a row of ", row.size(),
             " tokens is too short for a pair of ", length);
  const int64_t a_len = 1 + rng.below(n - 1);
  const int64_t b_len = n - a_len;
  std::span<const int32_t> a = row.subspan(0, size_t(a_len));
  std::span<const int32_t> b = row.subspan(size_t(a_len), size_t(b_len));
  SentencePair p;
  p.label = rng.bernoulli(0.5) ? 1 : 0;
  if (p.label == 1 && task == PairTask::nsp) {
    KILN_CHECK(int64_t(other.size()) >= b_len,
               "sentence pairs: the row for random second "
               "segments holds ",
               other.size(), " tokens, fewer than ", b_len);
    const int64_t off = rng.below(int64_t(other.size()) - b_len + 1);
    b = other.subspan(size_t(off), size_t(b_len));
  }
  if (p.label == 1 && task == PairTask::sop) std::swap(a, b);
  p.first_len = int64_t(a.size());
  p.second_len = int64_t(b.size());
  p.tokens.reserve(size_t(length));
  p.types.reserve(size_t(length));
  p.tokens.push_back(cls);
  p.tokens.insert(p.tokens.end(), a.begin(), a.end());
  p.tokens.push_back(sep);
  p.types.assign(p.tokens.size(), 0);
  p.tokens.insert(p.tokens.end(), b.begin(), b.end());
  p.tokens.push_back(sep);
  p.types.resize(p.tokens.size(), 1);
  return p;
}

}  // namespace kiln::objectives
