#include "plugins/datasets/text_dataset.h"

#include <cctype>
#include <cmath>

#include "core/base/error.h"
#include "plugins/datasets/progress.h"
#include "plugins/datasets/sources.h"

namespace kiln::datasets {

using data::Split;

TextDataset::TextDataset(DatasetCommon common, TextOptions text,
                         std::shared_ptr<data::Tokenizer> tokenizer)
    : TokenDataset(std::move(common)), text_(std::move(text)) {
  tokenizer_ = std::move(tokenizer);
  KILN_CHECK(tokenizer_, common_.train_where, "a text dataset needs a tokenizer");
  KILN_CHECK(text_.val_fraction >= 0 && text_.val_fraction < 1, common_.val_where, "val fraction ",
             text_.val_fraction, " must lie in [0, 1)");
}

std::vector<TextDataset::Document> TextDataset::documents_of(const std::string& file,
                                                             std::string content,
                                                             const std::string& where) const {
  if (text_.field) return jsonl_documents(content, file, *text_.field, where);
  std::vector<Document> docs;
  if (!text_.separator || text_.separator->empty()) {
    docs.push_back({std::move(content), file});
    return docs;
  }
  const std::string& sep = *text_.separator;
  size_t pos = 0;
  while (pos <= content.size()) {
    size_t at = content.find(sep, pos);
    size_t end = at == std::string::npos ? content.size() : at;
    if (end > pos) docs.push_back({content.substr(pos, end - pos), file});
    if (at == std::string::npos) break;
    pos = at + sep.size();
  }
  KILN_CHECK(!docs.empty(), where, "\"", file, "\": no documents between the separators \"", sep,
             "\"");
  return docs;
}

std::vector<TextDataset::Document> TextDataset::load(const std::vector<std::string>& patterns,
                                                     const std::string& where) const {
  std::vector<Document> docs;
  for (const std::string& file : expand_paths(patterns, where)) {
    std::vector<Document> d = documents_of(file, read_file(file, where), where);
    for (Document& x : d) docs.push_back(std::move(x));
  }
  return docs;
}

// Assigns the documents to the splits: docs_[0, n_train_docs) are the train text. With a val
// fraction, the text is cut at byte floor(total * (1 - val)), as nanoGPT's prepare.py cuts
// data[:int(n * 0.9)], moved forward to the next character boundary.
void TextDataset::cut(size_t n_train_docs) {
  for (auto& p : pieces_) p.clear();
  if (!text_.val_paths.empty()) {
    for (size_t d = 0; d < docs_.size(); ++d)
      pieces_[d < n_train_docs ? 0 : 1].push_back({d, 0, docs_[d].text.size(), true});
    return;
  }
  int64_t total = 0;
  for (const Document& d : docs_) total += int64_t(d.text.size());
  const auto cut_at = int64_t(std::floor(double(total) * (1.0 - text_.val_fraction)));
  int64_t offset = 0;
  for (size_t d = 0; d < docs_.size(); ++d) {
    const std::string& t = docs_[d].text;
    const int64_t begin = offset, end = offset + int64_t(t.size());
    offset = end;
    if (end <= cut_at) {
      pieces_[0].push_back({d, 0, t.size(), true});
    } else if (begin >= cut_at) {
      pieces_[1].push_back({d, 0, t.size(), true});
    } else {
      size_t k = size_t(cut_at - begin);
      while (k < t.size() && (static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) ++k;  // UTF-8
      if (k > 0) pieces_[0].push_back({d, 0, k, true});
      if (k < t.size()) pieces_[1].push_back({d, k, t.size(), k == 0});
    }
  }
}

namespace {

// Tokenisation goes in chunks of about this many bytes, so that progress shows inside a large
// file. A chunk ends after a newline that a non-space character follows: the pre-tokenisers of
// byte-level BPE (GPT-2's and its successors') never join such a newline to what comes after,
// so chunked and whole encodings agree; char and byte tokenizers agree anywhere.
constexpr size_t kChunk = size_t(1) << 20;

size_t chunk_end(std::string_view text, size_t from) {
  if (text.size() - from <= kChunk) return text.size();
  for (size_t p = from + kChunk; p < text.size(); ++p)
    if (text[p - 1] == '\n' && !std::isspace(static_cast<unsigned char>(text[p]))) return p;
  return text.size();
}

}  // namespace

void TextDataset::encode(bool progress) {
  const data::Tokenizer& tok = *tokenizer_;
  const std::optional<int32_t> eos = tok.eos_id();
  const int64_t vocab = tok.vocab_size();
  int64_t total_bytes = 0;
  for (const auto& split : pieces_)
    for (const Piece& p : split) total_bytes += int64_t(p.end - p.begin);
  std::string label = docs_.empty() ? std::string("text") : docs_.front().origin;
  if (text_.field) label = label.substr(0, label.rfind(':'));
  if (docs_.size() > 1 && docs_.back().origin.rfind(label, 0) != 0) label += " and more";
  ProgressOptions po;
  po.enabled = progress;
  Progress bar(label, total_bytes, po);

  tokens_.clear();
  int64_t done = 0;
  for (int s = 0; s < 2; ++s) {
    const int64_t split_begin = int64_t(tokens_.size());
    std::vector<int64_t>& starts = splits_[s].doc_starts;
    starts.assign(1, 0);
    for (const Piece& p : pieces_[s]) {
      const int64_t here = int64_t(tokens_.size()) - split_begin;
      if (p.starts_doc) {
        if (here > starts.back()) starts.push_back(here);
        if (eos) tokens_.push_back(*eos);
      }
      const std::string_view text = p.view(docs_);
      for (size_t from = 0; from < text.size();) {
        size_t to = chunk_end(text, from);
        std::vector<int32_t> ids;
        try {
          ids = tok.encode(text.substr(from, to - from));
        } catch (const Error& e) {
          KILN_FAIL(docs_[p.doc].origin, ": ", e.what());
        }
        for (int32_t id : ids)
          KILN_CHECK(id >= 0 && id < vocab, docs_[p.doc].origin, ": the tokenizer made id ", id,
                     ", outside its vocabulary of ", vocab);
        tokens_.insert(tokens_.end(), ids.begin(), ids.end());
        done += int64_t(to - from);
        from = to;
        bar.update(done, int64_t(tokens_.size()));
      }
    }
    splits_[s].begin = split_begin;
    splits_[s].end = int64_t(tokens_.size());
  }
  bar.finish();
}

void TextDataset::prepare(const data::PrepareOptions& options) {
  KILN_CHECK(!prepared_, common_.train_where, "Dataset::prepare called twice");
  docs_ = load(text_.paths, common_.train_where);
  const size_t n_train_docs = docs_.size();
  if (!text_.val_paths.empty())
    for (Document& d : load(text_.val_paths, common_.val_where)) docs_.push_back(std::move(d));
  KILN_CHECK(n_train_docs > 0, common_.train_where, "the files hold no documents");
  cut(n_train_docs);

  if (tokenizer_->needs_fit()) {
    std::vector<std::string_view> corpus;
    for (int s = 0; s < (text_.fit_on_train_only ? 1 : 2); ++s)
      for (const Piece& p : pieces_[s]) corpus.push_back(p.view(docs_));
    tokenizer_->fit(corpus);
  }
  encode(options.progress);
  stream_ = TokenStream();
  stream_.add(tokens_.data(), 4, int64_t(tokens_.size()));
  KILN_CHECK(splits_[0].size() > 0, common_.train_where, "the train split holds no tokens");
  finish_prepare(options);
}

std::span<const int32_t> TextDataset::tokens(Split split) const {
  check_prepared("tokens");
  const SplitTokens& s = splits_[int(split)];
  return std::span<const int32_t>(tokens_.data() + s.begin, size_t(s.size()));
}

std::string TextDataset::text(Split split) const {
  check_prepared("text");
  std::optional<int32_t> eos = tokenizer_->eos_id();
  const std::string eos_text = eos ? tokenizer_->decode({*eos}) : std::string();
  std::string out;
  for (const Piece& p : pieces_[int(split)]) {
    if (p.starts_doc) out += eos_text;
    out += p.view(docs_);
  }
  return out;
}

}  // namespace kiln::datasets
