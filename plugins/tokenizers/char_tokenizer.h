// The char tokenizer: one id per Unicode character of a vocabulary learned from the training
// text (nanoGPT's shakespeare-char: the 65 distinct characters of tiny Shakespeare), ids in
// code-point order, special tokens after them. The vocabulary is saved with the run.
//
// A character outside the vocabulary (MMLU's digits and brackets for a vocabulary learned from
// Shakespeare) is an error by default, naming the character and where it is; `unknown = "skip"`
// drops it and `unknown = "replace"` writes the replacement character (which must be in the
// vocabulary) in its place. The policy is not saved with the vocabulary: it belongs to the spec,
// and `kiln eval RUN --set data.tokenizer.unknown=replace` changes it for one evaluation.
#pragma once

#include <array>
#include <atomic>
#include <unordered_map>

#include "plugins/tokenizers/tokenizer_base.h"

namespace kiln::tokenizers {

/// What encode() does with a character outside the vocabulary.
enum class UnknownChar { error, skip, replace };

class CharTokenizer final : public TokenizerBase {
 public:
  /// With `chars`, the vocabulary is fixed to the characters of that string and no fit is
  /// needed; otherwise fit() learns it. `replacement` (one character) is used with
  /// UnknownChar::replace and must be in the vocabulary.
  explicit CharTokenizer(std::vector<std::string> special_tokens = {},
                         std::optional<std::string> eos = std::nullopt,
                         std::optional<std::string> chars = std::nullopt,
                         UnknownChar unknown = UnknownChar::error, std::string replacement = "?");

  int64_t vocab_size() const override;
  /// As TokenizerBase's, with ASCII characters appended as bytes (nearly every id of English).
  std::string decode(const std::vector<int32_t>& ids) const override;
  bool needs_fit() const override { return !ready_; }
  /// Learns the vocabulary: every distinct character of the corpus. Throws on invalid UTF-8,
  /// naming the document and the position.
  void fit(const std::vector<std::string_view>& corpus) override;
  void save(const std::string& dir) const override;
  void load(const std::string& dir) override;

  /// The vocabulary's characters in id order.
  const std::vector<char32_t>& chars() const { return chars_; }
  /// Characters outside the vocabulary that encode() skipped or replaced so far.
  int64_t unknown_count() const { return unknown_count_; }

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;
  void append_ordinary(int32_t id, std::string& out) const override;
  void ensure_ready() const override;

 private:
  void set_vocabulary(std::vector<char32_t> chars);
  [[noreturn]] void fail_at(std::string_view text, size_t pos, const std::string& what) const;

  UnknownChar unknown_;
  char32_t replacement_ = U'?';
  int32_t replacement_id_ = -1;  // with UnknownChar::replace, once the vocabulary is known
  mutable std::atomic<int64_t> unknown_count_{0};
  bool ready_ = false;
  std::vector<char32_t> chars_;
  std::vector<std::string> utf8_;                // by id
  std::array<int32_t, 128> ascii_{};             // ASCII character -> id, -1 if absent
  std::vector<int16_t> byte_of_;                 // id -> its character if ASCII, else -1
  std::unordered_map<char32_t, int32_t> other_;  // non-ASCII character -> id
};

}  // namespace kiln::tokenizers
