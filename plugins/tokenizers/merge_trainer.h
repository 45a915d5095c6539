// The merge loop that BPE and WordPiece training share: words of symbols with their counts,
// the most frequent adjacent pair merged into a new symbol until the vocabulary is full.
//
// Deterministic: the pair with the highest count wins, and among equal counts the one whose
// (left text, right text) is smallest in byte-wise lexicographic order. A merge whose text is
// already a token (made by another pair) adds a merge but no token. Pair counts are kept up to
// date incrementally (each merge touches only the words that hold the pair, found through an
// index from pair to words), and the best pair comes from a priority queue with lazy deletion,
// so a merge costs time in proportion to what it changes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::tokenizers {

inline uint64_t pair_key(int32_t a, int32_t b) {
  return uint64_t(uint32_t(a)) << 32 | uint32_t(b);
}
inline int32_t key_left(uint64_t k) {
  return int32_t(k >> 32);
}
inline int32_t key_right(uint64_t k) {
  return int32_t(uint32_t(k));
}

/// A distinct word: its symbols (token ids) and how often it occurs.
struct MergeWord {
  std::vector<int32_t> syms;
  int64_t count;
};

/// The text of the token that merging (left, right) makes: their concatenation for BPE;
/// WordPiece drops the continuation prefix of the right one.
using JoinFn = std::function<std::string(const std::string& left, const std::string& right)>;

class MergeTrainer {
 public:
  MergeTrainer(std::vector<MergeWord> words, std::vector<std::string> tokens, JoinFn join)
      : words_(std::move(words)),
        tokens_(std::move(tokens)),
        join_(std::move(join)),
        heap_(Order{&tokens_}) {
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

  struct Result {
    std::vector<std::string> tokens;  ///< text of each id: the alphabet, then merges
    std::vector<std::pair<int32_t, int32_t>> merges;  ///< in rank order
  };
  /// Merges until there are `max_tokens` tokens or no pair occurs `min_frequency` times.
  Result run(int64_t max_tokens, int64_t min_frequency) {
    Result r;
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
    const std::string bytes = join_(tokens_[size_t(a)], tokens_[size_t(b)]);
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
  void merge_word(MergeWord& word, int32_t w, int32_t a, int32_t b, int32_t id) {
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

  std::vector<MergeWord> words_;
  std::vector<std::string> tokens_;
  JoinFn join_;
  std::unordered_map<std::string, int32_t> by_bytes_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> where_;
  std::priority_queue<Entry, std::vector<Entry>, Order> heap_;
  std::vector<std::pair<uint64_t, int64_t>> deltas_;
  std::vector<int32_t> out_;
};

}  // namespace kiln::tokenizers
