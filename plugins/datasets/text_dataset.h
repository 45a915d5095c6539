// Datasets of raw text: files and globs (`text`), and a field of JSON lines (`jsonl`). Each
// document is tokenised and preceded by the tokenizer's end-of-text id when it has one. The
// split is nanoGPT's: the first (1 - val) of the text's bytes train and the rest validate (the
// document at the cut is cut in two at a character boundary), or `val` names files of its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/datasets/token_dataset.h"

namespace kiln::datasets {

struct TextOptions {
  std::vector<std::string> paths;  ///< files and globs
  /// Set: each file is JSON lines and this field of each record is a document (jsonl).
  std::optional<std::string> field;
  /// text: splits each file into documents (empty documents are skipped).
  std::optional<std::string> separator;
  double val_fraction = 0.1;           ///< used when val_paths is empty
  std::vector<std::string> val_paths;  ///< files and globs of the val split
  bool fit_on_train_only = false;      ///< a tokenizer that learns its vocabulary sees only train
};

class TextDataset : public TokenDataset {
 public:
  TextDataset(DatasetCommon common, TextOptions text, std::shared_ptr<data::Tokenizer> tokenizer);
  void prepare(const data::PrepareOptions& options) override;
  std::span<const int32_t> tokens(data::Split split) const override;
  std::string text(data::Split split) const override;

  struct Document {
    std::string text;
    std::string origin;  ///< "file" or "file:line", for messages
  };
  /// The documents of a file's contents (exposed for tests).
  std::vector<Document> documents_of(const std::string& file, std::string content,
                                     const std::string& where) const;

 private:
  // A stretch of one document that lies in one split.
  struct Piece {
    size_t doc;
    size_t begin, end;
    bool starts_doc;  ///< the document begins here (not a continuation across the cut)
    std::string_view view(const std::vector<Document>& docs) const {
      return std::string_view(docs[doc].text).substr(begin, end - begin);
    }
  };

  TextOptions text_;
  std::vector<Document> docs_;
  std::vector<Piece> pieces_[2];
  std::vector<int32_t> tokens_;  // the train split's tokens, then the val split's

  std::vector<Document> load(const std::vector<std::string>& patterns,
                             const std::string& where) const;
  void cut(size_t n_train_docs);
  void encode(bool progress);
};

/// The documents of a JSON-lines text: the string `field` of each non-blank line. Errors name
/// "file:line": invalid JSON, a record that is not an object, a missing or non-string field.
std::vector<TextDataset::Document> jsonl_documents(std::string_view content,
                                                   const std::string& file,
                                                   const std::string& field,
                                                   const std::string& where);

}  // namespace kiln::datasets
