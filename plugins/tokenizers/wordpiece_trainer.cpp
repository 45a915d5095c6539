#include "plugins/tokenizers/wordpiece_trainer.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "core/base/error.h"
#include "plugins/tokenizers/merge_trainer.h"
#include "plugins/tokenizers/unicode.h"

namespace kiln::tokenizers {
namespace {

// The UTF-8 characters of a word.
std::vector<std::string_view> characters(std::string_view word) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < word.size();) {
    const size_t n = decode_utf8(word, i).len;
    out.push_back(word.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

std::vector<std::string> train_wordpiece(const std::vector<std::string_view>& corpus,
                                         const WordPieceTrainOptions& options,
                                         const SpecialTokens& specials) {
  // Words with their counts, in byte order (a map: the result does not depend on the order,
  // but the work done then does not depend on a hash map's either).
  std::unordered_map<std::string, int64_t> counts;
  for (std::string_view doc : corpus) {
    auto add = [&](std::string_view text) {
      for (std::string& w : bert_basic_tokenize(text, options.text)) ++counts[std::move(w)];
    };
    if (specials.empty())
      add(doc);
    else
      specials.split(doc, add, [](int32_t) {});
  }
  std::map<std::string, int64_t> words(counts.begin(), counts.end());
  counts = {};

  std::set<std::string> initial, continuation;
  std::vector<std::vector<std::string_view>> spelled;
  spelled.reserve(words.size());
  for (const auto& [w, n] : words) {
    std::vector<std::string_view> chars = characters(w);
    if (int64_t(chars.size()) > options.max_word_chars) chars.clear();
    for (size_t i = 0; i < chars.size(); ++i) {
      if (i == 0)
        initial.emplace(chars[i]);
      else
        continuation.insert(options.prefix + std::string(chars[i]));
    }
    spelled.push_back(std::move(chars));
  }
  std::vector<std::string> tokens(initial.begin(), initial.end());
  tokens.insert(tokens.end(), continuation.begin(), continuation.end());
  KILN_CHECK(int64_t(tokens.size()) <= options.max_tokens, "wordpiece training: the alphabet of ",
             tokens.size(), " pieces (", initial.size(), " characters that begin a word and ",
             continuation.size(), " that continue one) does not fit in ", options.max_tokens,
             " ordinary tokens: raise vocab_size");
  std::unordered_map<std::string, int32_t> id_of;
  for (size_t i = 0; i < tokens.size(); ++i) id_of.emplace(tokens[i], int32_t(i));

  std::vector<MergeWord> merge_words;
  size_t k = 0;
  for (const auto& [w, n] : words) {
    const std::vector<std::string_view>& chars = spelled[k++];
    if (chars.size() < 2) continue;  // holds no pair
    MergeWord mw{std::vector<int32_t>(chars.size()), n};
    for (size_t i = 0; i < chars.size(); ++i)
      mw.syms[i] =
          id_of.at(i == 0 ? std::string(chars[i]) : options.prefix + std::string(chars[i]));
    merge_words.push_back(std::move(mw));
  }
  const std::string prefix = options.prefix;
  auto join = [prefix](const std::string& a, const std::string& b) {
    return b.compare(0, prefix.size(), prefix) == 0 ? a + b.substr(prefix.size()) : a + b;
  };
  return MergeTrainer(std::move(merge_words), std::move(tokens), join)
      .run(options.max_tokens, options.min_frequency)
      .tokens;
}

}  // namespace kiln::tokenizers
