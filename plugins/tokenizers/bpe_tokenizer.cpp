#include "plugins/tokenizers/bpe_tokenizer.h"

#include <omp.h>

#include <algorithm>

#include "core/base/error.h"
#include "core/base/threads.h"
#include "plugins/tokenizers/bpe_trainer.h"
#include "plugins/tokenizers/pretokenize.h"

namespace kiln::tokenizers {
namespace {

constexpr char kEncoderFile[] = "encoder.json";
constexpr char kVocabFile[] = "vocab.bpe";

}  // namespace

BpeTokenizer::BpeTokenizer(std::string name, std::vector<std::string> special_tokens,
                           std::optional<std::string> eos)
    : TokenizerBase(std::move(name), std::move(special_tokens), std::move(eos)) {}

std::shared_ptr<BpeTokenizer> BpeTokenizer::trainable(int64_t vocab_size, int64_t min_frequency,
                                                      std::vector<std::string> special_tokens,
                                                      std::optional<std::string> eos) {
  std::shared_ptr<BpeTokenizer> t(
      new BpeTokenizer("bpe", std::move(special_tokens), std::move(eos)));
  const int64_t least = 256 + int64_t(t->special_texts_.size());
  KILN_CHECK(vocab_size >= least, "bpe tokenizer: vocab_size = ", vocab_size,
             " leaves no room: the 256 bytes and ", t->special_texts_.size(),
             " special tokens need ", least);
  KILN_CHECK(min_frequency >= 1, "bpe tokenizer: min_frequency must be >= 1, got ", min_frequency);
  t->target_vocab_ = vocab_size;
  t->min_frequency_ = min_frequency;
  return t;
}

std::shared_ptr<BpeTokenizer> BpeTokenizer::gpt2(std::string encoder_json, std::string vocab_bpe,
                                                 std::vector<std::string> special_tokens,
                                                 std::optional<std::string> eos,
                                                 std::string where) {
  std::shared_ptr<BpeTokenizer> t(
      new BpeTokenizer("gpt2", std::move(special_tokens), std::move(eos)));
  t->encoder_path_ = std::move(encoder_json);
  t->vocab_path_ = std::move(vocab_bpe);
  t->where_ = std::move(where);
  return t;
}

void BpeTokenizer::ensure_ready() const {
  if (ready_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(load_mu_);
  if (ready_.load(std::memory_order_relaxed)) return;
  KILN_CHECK(name_ != "bpe", who(),
             "the vocabulary has not been trained yet: fit() the tokenizer on the training "
             "text, or load() a saved one");
  // Reading the files on first use changes a tokenizer that callers hold as const. The object
  // itself is never const (factories make it), so the cast is sound; the lock and ready_ make
  // it happen once.
  auto* self = const_cast<BpeTokenizer*>(this);
  try {
    self->install(read_files(encoder_path_, vocab_path_, nullptr));
  } catch (const Error& e) {
    KILN_FAIL(where_, e.what());
  }
}

const BytePairEncoder& BpeTokenizer::encoder() const {
  ensure_ready();
  return enc_;
}

int64_t BpeTokenizer::vocab_size() const {
  ensure_ready();
  return enc_.size();
}

bool BpeTokenizer::needs_fit() const {
  return name_ == "bpe" && !ready_.load(std::memory_order_acquire);
}

void BpeTokenizer::fit(const std::vector<std::string_view>& corpus) {
  if (name_ != "bpe") return;  // GPT-2's vocabulary is fixed
  SpecialTokens leave_out;
  for (size_t i = 0; i < special_texts_.size(); ++i) leave_out.add(special_texts_[i], int32_t(i));
  BpeTrainResult r =
      train_bpe(corpus, target_vocab_ - int64_t(special_texts_.size()), min_frequency_, leave_out);
  const auto first_special = int32_t(r.tokens.size());
  Vocab v{std::move(r.tokens), std::move(r.merges), number_specials(first_special)};
  for (const auto& [text, id] : v.specials) v.tokens.push_back(text);
  std::lock_guard lock(load_mu_);
  install(std::move(v));
}

BpeTokenizer::Vocab BpeTokenizer::read_files(
    const std::string& encoder_path, const std::string& vocab_path,
    const std::vector<std::pair<std::string, int32_t>>* saved) const {
  Vocab v;
  v.tokens = BytePairEncoder::parse_encoder_json(read_file(encoder_path, name_ + " tokenizer"),
                                                 encoder_path);
  v.merges = BytePairEncoder::parse_vocab_bpe(read_file(vocab_path, name_ + " tokenizer"), v.tokens,
                                              vocab_path);
  if (saved) {
    for (const auto& [text, id] : *saved)
      KILN_CHECK(id >= 0 && size_t(id) < v.tokens.size() && v.tokens[size_t(id)] == text, who(),
                 "the special token \"", text, "\" with id ", id, " is not that token of ",
                 encoder_path);
    v.specials = *saved;
    return v;
  }
  const size_t n = v.tokens.size();
  for (const std::string& text : special_texts_) {
    auto it = std::find(v.tokens.begin(), v.tokens.begin() + std::ptrdiff_t(n), text);
    if (it != v.tokens.begin() + std::ptrdiff_t(n)) {
      v.specials.emplace_back(text, int32_t(it - v.tokens.begin()));
    } else {
      v.specials.emplace_back(text, int32_t(v.tokens.size()));
      v.tokens.push_back(text);
    }
  }
  return v;
}

void BpeTokenizer::install(Vocab v, const SavedHeader* saved) {
  std::vector<int32_t> special_ids;
  for (const auto& t : v.specials) special_ids.push_back(t.second);
  BytePairEncoder e;
  e.build(std::move(v.tokens), std::move(v.merges), special_ids, who());
  if (saved)
    restore_specials(*saved);
  else
    set_specials(v.specials);
  enc_ = std::move(e);
  ready_.store(true, std::memory_order_release);
}

void BpeTokenizer::save(const std::string& dir) const {
  ensure_ready();
  // tokenizer.json last: a directory that has it has the whole vocabulary.
  write_file(join_path(dir, kEncoderFile), enc_.encoder_json(), who() + "saving");
  write_file(join_path(dir, kVocabFile), enc_.vocab_bpe(), who() + "saving");
  write_saved(dir, saved_header());
}

void BpeTokenizer::load(const std::string& dir) {
  const SavedHeader h = read_saved(dir);
  h.config.check_all_read();
  Vocab v = read_files(join_path(dir, kEncoderFile), join_path(dir, kVocabFile), &h.specials);
  std::lock_guard lock(load_mu_);
  install(std::move(v), &h);
}

void BpeTokenizer::encode_serial(std::string_view text, std::vector<int32_t>& out) const {
  gpt2_pretokenize(text, [&](std::string_view piece) { enc_.encode_piece(piece, out); });
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  const int threads = kiln::num_threads();
  if (text.size() < parallel_min_bytes_ || threads < 2) {
    encode_serial(text, out);
    return;
  }
  // Chunks that pre-tokenise as the whole text does, a few per thread for balance.
  const std::vector<size_t> b =
      pretokenize_chunks(text, std::max<size_t>(text.size() / (size_t(threads) * 4), 1024));
  const size_t n = b.size() - 1;
  std::vector<std::vector<int32_t>> parts(n);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (size_t i = 0; i < n; ++i) encode_serial(text.substr(b[i], b[i + 1] - b[i]), parts[i]);
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  out.reserve(out.size() + total);
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
}

void BpeTokenizer::append_ordinary(int32_t id, std::string& out) const {
  KILN_CHECK(id >= 0 && id < enc_.size(), who(), "id ", id, " is outside the vocabulary [0, ",
             enc_.size(), ")");
  out += enc_.bytes(id);
}

}  // namespace kiln::tokenizers
