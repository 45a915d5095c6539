// Tokenizers: the "tokenizer" component kind, text to token ids and back.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::data {

class Tokenizer {
 public:
  virtual ~Tokenizer();

  /// Token ids of text. With parse_special, special tokens written in the text
  /// ("<|endoftext|>") become their ids; otherwise they are encoded as ordinary text.
  virtual std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const = 0;
  /// The text of ids (special tokens included as written).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  /// The bytes one token stands for (bits per byte, streaming output).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual int64_t vocab_size() const = 0;

  /// Special tokens by their text ("<|endoftext|>" -> 50256).
  virtual std::map<std::string, int32_t> special_tokens() const { return {}; }
  /// The end-of-text token separating documents, if the tokenizer has one.
  virtual std::optional<int32_t> eos_id() const { return std::nullopt; }
  /// A special token by its role or its text. Roles are "mask", "pad", "cls", "sep", "unk",
  /// "bos" and "eos" (eos_id()); a role is found among special_tokens() by its usual texts
  /// (BERT's "[MASK]", "[PAD]", "[CLS]", "[SEP]", "[UNK]"; RoBERTa/BART/T5's "<mask>", "<pad>",
  /// "<s>", "</s>", "<unk>"). Anything else is looked up as a text ("<extra_id_0>").
  virtual std::optional<int32_t> special_id(std::string_view role_or_text) const;

  /// Whether the vocabulary is learned from the training text (char, BPE training); fit() is
  /// then called once with that text before any encode.
  virtual bool needs_fit() const { return false; }
  virtual void fit(const std::vector<std::string_view>& corpus) {}

  /// Writes what is needed to rebuild this tokenizer into a run directory (`dir` exists), and
  /// reads it back. A run's tokenizer travels with its checkpoints.
  virtual void save(const std::string& dir) const = 0;
  virtual void load(const std::string& dir) = 0;
};

}  // namespace kiln::data
