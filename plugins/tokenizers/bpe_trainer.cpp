#include "plugins/tokenizers/bpe_trainer.h"

#include <omp.h>

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "core/base/error.h"
#include "core/base/threads.h"
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

uint64_t pair_key(int32_t a, int32_t b) {
  return uint64_t(uint32_t(a)) << 32 | uint32_t(b);
}
int32_t key_left(uint64_t k) {
  return int32_t(k >> 32);
}
int32_t key_right(uint64_t k) {
  return int32_t(uint32_t(k));
}

struct Word {
  std::vector<int32_t> syms;
  int64_t count;
};

class Trainer {
 public:
  Trainer(std::vector<Word> words, std::vector<std::string> tokens)
      : words_(std::move(words)), tokens_(std::move(tokens)), heap_(Order{&tokens_}) {
    for (size_t id = 0; id < tokens_.size(); ++id) by_bytes_.emplace(tokens_[id], int32_t(id));
    for (size_t w = 0; w < words_.size(); ++w) {
      const auto& s = words_[w].syms;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        counts_[k] += words_[w].count;
        auto& ws = where_[k];
        if (ws.empty() || ws.back() != int32_t(w)) ws.push_back(int32_t(w));
      }
    }
    for (const auto& [k, n] : counts_) heap_.push({n, k});
  }

  BpeTrainResult run(int64_t max_tokens, int64_t min_frequency) {
    BpeTrainResult r;
    while (int64_t(tokens_.size()) < max_tokens && !heap_.empty()) {
      const Entry top = heap_.top();
      heap_.pop();
      auto it = counts_.find(top.pair);
      if (it == counts_.end() || it->second != top.count) continue;  // stale
      if (top.count < min_frequency) break;
      merge(top.pair);
      r.merges.emplace_back(key_left(top.pair), key_right(top.pair));
    }
    r.tokens = std::move(tokens_);
    return r;
  }

 private:
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  // The priority: higher count first; among equal counts, smaller (left bytes, right bytes).
  struct Order {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& a, const Entry& b) const {  // true when a comes after b
      if (a.count != b.count) return a.count < b.count;
      const std::string& al = (*tokens)[size_t(key_left(a.pair))];
      const std::string& bl = (*tokens)[size_t(key_left(b.pair))];
      if (int c = al.compare(bl)) return c > 0;
      return (*tokens)[size_t(key_right(a.pair))].compare((*tokens)[size_t(key_right(b.pair))]) > 0;
    }
  };

  void merge(uint64_t pair) {
    const int32_t a = key_left(pair), b = key_right(pair);
    const std::string bytes = tokens_[size_t(a)] + tokens_[size_t(b)];
    int32_t id;
    if (auto f = by_bytes_.find(bytes); f != by_bytes_.end()) {
      id = f->second;
    } else {
      id = int32_t(tokens_.size());
      tokens_.push_back(bytes);
      by_bytes_.emplace(bytes, id);
    }
    std::vector<int32_t> ws = std::move(where_[pair]);
    where_.erase(pair);
    std::sort(ws.begin(), ws.end());
    ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
    deltas_.clear();
    for (int32_t w : ws) merge_word(words_[size_t(w)], w, a, b, id);
    counts_.erase(pair);
    // Apply the changes, then queue each changed pair once with its new count.
    std::sort(deltas_.begin(), deltas_.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    for (size_t i = 0; i < deltas_.size();) {
      const uint64_t k = deltas_[i].first;
      int64_t d = 0;
      for (; i < deltas_.size() && deltas_[i].first == k; ++i) d += deltas_[i].second;
      if (k == pair || d == 0) continue;
      int64_t& n = counts_[k];
      n += d;
      if (n > 0)
        heap_.push({n, k});
      else
        counts_.erase(k);
    }
  }

  // Rewrites one word with every (a, b) merged left to right, recording the change of each
  // neighbouring pair's count. The left neighbour is read from the rewritten prefix, so that
  // in "a b a b" the second merge sees the first's result.
  void merge_word(Word& word, int32_t w, int32_t a, int32_t b, int32_t id) {
    const auto& s = word.syms;
    const size_t n = s.size();
    const int64_t c = word.count;
    out_.clear();
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && s[i] == a && s[i + 1] == b) {
        if (!out_.empty()) {
          deltas_.emplace_back(pair_key(out_.back(), a), -c);
          deltas_.emplace_back(pair_key(out_.back(), id), c);
          where_[pair_key(out_.back(), id)].push_back(w);
        }
        if (i + 2 < n) {
          deltas_.emplace_back(pair_key(b, s[i + 2]), -c);
          deltas_.emplace_back(pair_key(id, s[i + 2]), c);
          where_[pair_key(id, s[i + 2])].push_back(w);
        }
        out_.push_back(id);
        i += 2;
      } else {
        out_.push_back(s[i]);
        ++i;
      }
    }
    word.syms.assign(out_.begin(), out_.end());
  }

  std::vector<Word> words_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> by_bytes_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> where_;
  std::priority_queue<Entry, std::vector<Entry>, Order> heap_;
  std::vector<std::pair<uint64_t, int64_t>> deltas_;
  std::vector<int32_t> out_;
};

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
  std::vector<Word> words;
  words.reserve(pieces.size());
  for (const auto& [p, n] : pieces) {
    if (p.size() < 2) continue;  // holds no pair
    Word w{std::vector<int32_t>(p.size()), n};
    for (size_t i = 0; i < p.size(); ++i) w.syms[i] = static_cast<unsigned char>(p[i]);
    words.push_back(std::move(w));
  }
  std::vector<std::string> tokens(256);
  for (int b = 0; b < 256; ++b) tokens[size_t(b)] = std::string(1, char(b));
  return Trainer(std::move(words), std::move(tokens)).run(max_tokens, min_frequency);
}

}  // namespace kiln::tokenizers
