// What the tokenizers of this plugin share: special tokens and their parsing, decoding through
// the bytes of each id, an end-of-text id, and the tokenizer.json every save() writes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/registry/config.h"
#include "plugins/tokenizers/special_tokens.h"

namespace kiln::tokenizers {

/// The file, in a saved tokenizer's directory, that names its type and special tokens.
inline constexpr char kTokenizerFile[] = "tokenizer.json";

class TokenizerBase : public data::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string token_bytes(int32_t id) const override;
  std::map<std::string, int32_t> special_tokens() const override;
  std::optional<int32_t> eos_id() const override;

  /// The component's name ("char"), used in messages and as the type in tokenizer.json.
  const std::string& name() const { return name_; }

 protected:
  /// `special_texts` are the special tokens the spec asked for and `eos` the one it named, if
  /// any; subclasses give them ids with set_specials() once their vocabulary is known.
  TokenizerBase(std::string name, std::vector<std::string> special_texts,
                std::optional<std::string> eos);

  /// Appends the ids of text that holds no special token.
  virtual void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const = 0;
  /// Appends the bytes of an id that is not special; throws for ids outside the vocabulary.
  virtual void append_ordinary(int32_t id, std::string& out) const = 0;
  /// Throws when the tokenizer cannot encode yet (not fitted), or loads what it loads lazily.
  virtual void ensure_ready() const {}

  /// Gives the special tokens their ids, in the order they were listed, and picks the EOS.
  void set_specials(const std::vector<std::pair<std::string, int32_t>>& tokens);
  /// Special tokens are numbered after the ordinary vocabulary: {text, first_id + i}.
  std::vector<std::pair<std::string, int32_t>> number_specials(int32_t first_id) const;
  bool is_special(int32_t id) const {
    return size_t(id) < special_flag_.size() && special_flag_[size_t(id)];
  }

  /// The tokenizer.json of save(): type, special tokens and eos; subclasses add their fields.
  Config saved_header() const;
  /// Writes `config` as dir/tokenizer.json.
  void write_saved(const std::string& dir, const Config& config) const;
  /// What read_saved() found: the whole file (for the subclass's fields), and the special
  /// tokens ({text, id}, by id) and the name of the EOS, checked.
  struct SavedHeader {
    Config config;
    std::vector<std::pair<std::string, int32_t>> specials;
    std::optional<std::string> eos;
  };
  /// Reads dir/tokenizer.json and checks that it is of this type; changes nothing, so that a
  /// subclass can check the rest before it commits with restore_specials().
  SavedHeader read_saved(const std::string& dir) const;
  void restore_specials(const SavedHeader& h);

  /// "<name> tokenizer: " for messages.
  std::string who() const { return name_ + " tokenizer: "; }

  std::string name_;
  std::vector<std::string> special_texts_;
  std::optional<std::string> eos_name_;
  SpecialTokens specials_;
  std::optional<int32_t> eos_;
  std::vector<char> special_flag_;  // by id
};

/// The whole of a file; throws naming `what` and the path when it cannot be read.
std::string read_file(const std::string& path, const std::string& what);
/// Writes a file through a temporary name and a rename, so that no half-written file is left.
void write_file(const std::string& path, std::string_view content, const std::string& what);
/// path joined to a directory.
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace kiln::tokenizers
