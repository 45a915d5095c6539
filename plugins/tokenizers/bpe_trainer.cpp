#include "plugins/tokenizers/bpe_trainer.h"

#include <omp.h>

#include <algorithm>
#include <unordered_map>

#include "core/base/error.h"
#include "core/base/threads.h"
#include "plugins/tokenizers/merge_trainer.h"
#include "plugins/tokenizers/pretokenize.h"

namespace kiln::tokenizers {
namespace {

using PieceCounts = std::unordered_map<std::string_view, int64_t>;

// Pieces of the corpus with their counts. The text is cut at special tokens, then into chunks
// that pre-tokenise independently (pretokenize_chunks); threads count chunks into maps of their
// own, merged at the end, so the counts do not depend on the thread count.
PieceCounts count_pieces(const std::vector<std::string_view>& corpus,
                         const SpecialTokens& specials) {
  std::vector<std::string_view> chunks;
  for (std::string_view doc : corpus) {
    auto add = [&](std::string_view text) {
      const std::vector<size_t> b = pretokenize_chunks(text, size_t(1) << 20);
      for (size_t i = 0; i + 1 < b.size(); ++i)
        chunks.push_back(text.substr(b[i], b[i + 1] - b[i]));
    };
    if (specials.empty())
      add(doc);
    else
      specials.split(doc, add, [](int32_t) {});
  }
  const int threads = std::max(1, std::min(kiln::num_threads(), int(chunks.size())));
  std::vector<PieceCounts> local(static_cast<size_t>(threads));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (size_t i = 0; i < chunks.size(); ++i) {
    PieceCounts& counts = local[size_t(omp_get_thread_num())];
    gpt2_pretokenize(chunks[i], [&](std::string_view p) { ++counts[p]; });
  }
  for (size_t t = 1; t < local.size(); ++t) {
    for (const auto& [p, n] : local[t]) local[0][p] += n;
    local[t] = {};
  }
  return std::move(local[0]);
}

}  // namespace

BpeTrainResult train_bpe(const std::vector<std::string_view>& corpus, int64_t max_tokens,
                         int64_t min_frequency, const SpecialTokens& specials) {
  KILN_CHECK(max_tokens >= 256, "bpe training: the vocabulary needs at least the 256 bytes, got ",
             max_tokens);
  PieceCounts counts = count_pieces(corpus, specials);
  // Words in byte order: the result does not depend on it, but the work done then does not
  // depend on the hash map's order either.
  std::vector<std::pair<std::string_view, int64_t>> pieces(counts.begin(), counts.end());
  counts = {};
  std::sort(pieces.begin(), pieces.end());
  std::vector<MergeWord> words;
  words.reserve(pieces.size());
  for (const auto& [p, n] : pieces) {
    if (p.size() < 2) continue;  // holds no pair
    MergeWord w{std::vector<int32_t>(p.size()), n};
    for (size_t i = 0; i < p.size(); ++i) w.syms[i] = static_cast<unsigned char>(p[i]);
    words.push_back(std::move(w));
  }
  std::vector<std::string> tokens(256);
  for (int b = 0; b < 256; ++b) tokens[size_t(b)] = std::string(1, char(b));
  auto concat = [](const std::string& a, const std::string& b) { return a + b; };
  MergeTrainer::Result r =
      MergeTrainer(std::move(words), std::move(tokens), concat).run(max_tokens, min_frequency);
  return {std::move(r.tokens), std::move(r.merges)};
}

}  // namespace kiln::tokenizers
