#include "plugins/tokenizers/wordpiece_tokenizer.h"

#include <unordered_map>

#include "core/base/error.h"
#include "plugins/tokenizers/unicode.h"
#include "plugins/tokenizers/wordpiece_trainer.h"

namespace kiln::tokenizers {
namespace {

constexpr char kVocabFile[] = "vocab.txt";

// vocab.txt's lines (a final newline ends the last line rather than starting an empty one;
// a carriage return before a newline is dropped).
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    size_t stop = end;
    if (stop > start && text[stop - 1] == '\r') --stop;
    lines.push_back(text.substr(start, stop - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(WordPieceOptions options,
                                       std::vector<std::string> special_tokens,
                                       std::optional<std::string> eos, int64_t train_size,
                                       int64_t min_frequency)
    : TokenizerBase("wordpiece", std::move(special_tokens), std::move(eos)),
      options_(std::move(options)),
      train_size_(train_size),
      min_frequency_(min_frequency) {
  KILN_CHECK(!options_.prefix.empty(), who(), "the continuation prefix is empty");
  KILN_CHECK(options_.max_word_chars >= 1, who(), "max_word_chars must be at least 1, got ",
             options_.max_word_chars);
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                                       std::vector<std::string> special_tokens,
                                       std::optional<std::string> eos)
    : WordPieceTokenizer(std::move(options), std::move(special_tokens), std::move(eos), 0, 0) {
  set_vocabulary(std::move(vocab));
}

std::shared_ptr<WordPieceTokenizer> WordPieceTokenizer::trainable(
    int64_t vocab_size, int64_t min_frequency, WordPieceOptions options,
    std::vector<std::string> special_tokens, std::optional<std::string> eos) {
  const int64_t n_special = int64_t(special_tokens.size());
  KILN_CHECK(vocab_size > n_special, "wordpiece tokenizer: vocab_size ", vocab_size,
             " leaves no room for pieces beside the ", n_special, " special tokens");
  return std::shared_ptr<WordPieceTokenizer>(new WordPieceTokenizer(
      std::move(options), std::move(special_tokens), std::move(eos), vocab_size, min_frequency));
}

std::shared_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_file(
    const std::string& path, WordPieceOptions options, std::vector<std::string> special_tokens,
    std::optional<std::string> eos) {
  std::vector<std::string> vocab = split_lines(read_file(path, "wordpiece tokenizer"));
  KILN_CHECK(!vocab.empty(), "wordpiece tokenizer: the vocabulary ", path, " is empty");
  try {
    return std::make_shared<WordPieceTokenizer>(std::move(vocab), std::move(options),
                                                std::move(special_tokens), std::move(eos));
  } catch (const Error& e) {
    KILN_FAIL(e.what(), " (vocabulary ", path, ")");
  }
}

void WordPieceTokenizer::set_vocabulary(std::vector<std::string> vocab) {
  // Special tokens keep their ids where the vocabulary has them (the last line that holds the
  // text, as Hugging Face's load_vocab) and are numbered after it otherwise.
  std::unordered_map<std::string, int32_t> id_of;
  for (size_t i = 0; i < vocab.size(); ++i) id_of[vocab[i]] = int32_t(i);
  std::vector<std::pair<std::string, int32_t>> specials;
  for (const std::string& s : special_texts_) {
    auto it = id_of.find(s);
    if (it != id_of.end()) {
      specials.emplace_back(s, it->second);
    } else {
      specials.emplace_back(s, int32_t(vocab.size()));
      id_of[s] = int32_t(vocab.size());
      vocab.push_back(s);
    }
  }
  set_specials(specials);
  vocab_ = std::move(vocab);

  const size_t n = vocab_.size();
  stripped_.assign(n, std::string());
  continuation_.assign(n, 0);
  size_t n_initial = 0, n_continued = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = vocab_[i];
    if (t.size() > options_.prefix.size() &&
        t.compare(0, options_.prefix.size(), options_.prefix) == 0) {
      continuation_[i] = 1;
      stripped_[i] = t.substr(options_.prefix.size());
      ++n_continued;
    } else {
      ++n_initial;
    }
  }
  initial_ = TokenTable();
  continued_ = TokenTable();
  initial_.reserve(n_initial);
  continued_.reserve(n_continued);
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = int32_t(i);
    if (is_special(id) || id_of.at(vocab_[i]) != id) continue;  // specials; shadowed duplicates
    if (continuation_[i])
      continued_.insert(id, stripped_);
    else if (!vocab_[i].empty())
      initial_.insert(id, vocab_);
  }
  auto unk = id_of.find(options_.unk);
  KILN_CHECK(unk != id_of.end(), who(), "the unknown-word token \"", options_.unk,
             "\" is neither in the vocabulary nor among the special tokens: list it in "
             "special_tokens or name another with unk");
  unk_id_ = unk->second;
  ready_ = true;
}

void WordPieceTokenizer::ensure_ready() const {
  KILN_CHECK(ready_, who(),
             "the vocabulary has not been learned yet: fit() the tokenizer on the training text, "
             "load() a saved one, or give a vocab file");
}

int64_t WordPieceTokenizer::vocab_size() const {
  ensure_ready();
  return int64_t(vocab_.size());
}

void WordPieceTokenizer::fit(const std::vector<std::string_view>& corpus) {
  WordPieceTrainOptions o;
  o.max_tokens = train_size_ - int64_t(special_texts_.size());
  o.min_frequency = min_frequency_;
  o.prefix = options_.prefix;
  o.max_word_chars = options_.max_word_chars;
  o.text = options_.text;
  SpecialTokens specials;
  for (size_t i = 0; i < special_texts_.size(); ++i) specials.add(special_texts_[i], int32_t(i));
  std::vector<std::string> pieces;
  try {
    pieces = train_wordpiece(corpus, o, specials);
  } catch (const Error& e) {
    KILN_FAIL(who(), e.what());
  }
  // The special tokens first, as BERT's vocabularies hold them ([PAD] = 0).
  std::vector<std::string> vocab = special_texts_;
  vocab.insert(vocab.end(), std::make_move_iterator(pieces.begin()),
               std::make_move_iterator(pieces.end()));
  set_vocabulary(std::move(vocab));
}

void WordPieceTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  // Character boundaries: pieces start and end only there.
  std::vector<uint32_t> bounds;
  bounds.reserve(word.size() + 1);
  for (size_t i = 0; i < word.size(); i += decode_utf8(word, i).len) bounds.push_back(uint32_t(i));
  bounds.push_back(uint32_t(word.size()));
  const size_t chars = bounds.size() - 1;
  if (chars == 0) return;
  if (int64_t(chars) > options_.max_word_chars) {
    out.push_back(unk_id_);
    return;
  }
  const size_t mark = out.size();
  for (size_t start = 0; start < chars;) {
    int32_t id = -1;
    size_t end = chars;
    for (; end > start; --end) {
      const std::string_view piece = word.substr(bounds[start], bounds[end] - bounds[start]);
      id = start == 0 ? initial_.find(piece, vocab_) : continued_.find(piece, stripped_);
      if (id >= 0) break;
    }
    if (id < 0) {  // the word cannot be spelled: all of it is unknown
      out.resize(mark);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(id);
    start = end;
  }
}

void WordPieceTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& w : bert_basic_tokenize(text, options_.text)) encode_word(w, out);
}

void WordPieceTokenizer::append_ordinary(int32_t id, std::string& out) const {
  KILN_CHECK(id >= 0 && size_t(id) < vocab_.size(), who(), "id ", id,
             " is outside the vocabulary [0, ", vocab_.size(), ")");
  if (continuation_[size_t(id)]) {
    out += stripped_[size_t(id)];
  } else {
    out += ' ';
    out += vocab_[size_t(id)];
  }
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  ensure_ready();
  std::string out;
  for (int32_t id : ids) {
    KILN_CHECK(id >= 0 && size_t(id) < vocab_.size(), who(), "id ", id,
               " is outside the vocabulary [0, ", vocab_.size(), ")");
    if (continuation_[size_t(id)] && !is_special(id)) {
      out += stripped_[size_t(id)];  // " ##ing" -> "ing"
    } else {
      if (!out.empty()) out += ' ';
      out += vocab_[size_t(id)];
    }
  }
  return out;
}

void WordPieceTokenizer::save(const std::string& dir) const {
  ensure_ready();
  std::string text;
  for (const std::string& t : vocab_) {
    text += t;
    text += '\n';
  }
  write_file(join_path(dir, kVocabFile), text, "wordpiece tokenizer");
  Config c = saved_header();
  c.set("vocab", std::string(kVocabFile));
  c.set("lowercase", options_.text.lowercase);
  c.set("strip_accents", options_.text.strip_accents);
  c.set("split_cjk", options_.text.split_cjk);
  c.set("unk", options_.unk);
  c.set("prefix", options_.prefix);
  c.set("max_word_chars", options_.max_word_chars);
  write_saved(dir, c);
}

void WordPieceTokenizer::load(const std::string& dir) {
  const SavedHeader h = read_saved(dir);
  const Config& c = h.config;
  WordPieceOptions o;
  o.text.lowercase = c.get<bool>("lowercase");
  o.text.strip_accents = c.get<bool>("strip_accents");
  o.text.split_cjk = c.get<bool>("split_cjk");
  o.unk = c.get<std::string>("unk");
  o.prefix = c.get<std::string>("prefix");
  o.max_word_chars = c.get<int64_t>("max_word_chars");
  const std::string vocab_path = join_path(dir, c.get<std::string>("vocab"));
  c.check_all_read();
  std::vector<std::string> vocab = split_lines(read_file(vocab_path, "wordpiece tokenizer"));
  // Every special token must be on its line: the vocabulary and the header agree.
  for (const auto& [text, id] : h.specials)
    if (id < 0 || size_t(id) >= vocab.size() || vocab[size_t(id)] != text)
      c.at("special_tokens")
          .fail("the special token \"" + text + "\" (id " + std::to_string(id) +
                ") is not on line " + std::to_string(id + 1) + " of " + vocab_path);
  options_ = std::move(o);
  special_texts_.clear();
  for (const auto& t : h.specials) special_texts_.push_back(t.first);
  eos_name_ = h.eos;
  set_vocabulary(std::move(vocab));
}

}  // namespace kiln::tokenizers
