// The tokenizers plugin: byte, char, bpe (trained on the corpus), gpt2 (GPT-2's files) and
// wordpiece (BERT's: trained on the corpus or read from a vocab.txt).
#include <cstdlib>

#include "core/registry/plugin.h"
#include "plugins/tokenizers/bpe_tokenizer.h"
#include "plugins/tokenizers/byte_tokenizer.h"
#include "plugins/tokenizers/char_tokenizer.h"
#include "plugins/tokenizers/wordpiece_tokenizer.h"

#ifndef KILN_SHARED_DATA
#define KILN_SHARED_DATA ""
#endif

namespace kiln::tokenizers {
namespace {

using data::Tokenizer;

std::vector<std::string> string_list(const Config& c, const std::string& key) {
  std::vector<std::string> out;
  for (const Config& item : c.at(key).items()) out.push_back(item.as_string());
  return out;
}

// The special tokens of a spec: its special_tokens, then T5's sentinels when it asks for
// them, listed from the last down so that <extra_id_0> gets the highest id of those numbered
// after the vocabulary (T5's numbering: <extra_id_0> = 32099 of 32100).
std::vector<std::string> specials_of(const Config& c) {
  std::vector<std::string> out = string_list(c, "special_tokens");
  for (int64_t i = c.get<int64_t>("sentinels") - 1; i >= 0; --i)
    out.push_back("<extra_id_" + std::to_string(i) + ">");
  return out;
}

std::optional<std::string> optional_string(const Config& c, const std::string& key) {
  const Config* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_string();
}

void add_specials(Schema& s, std::vector<std::string> def, const std::string& what) {
  std::vector<Config> items;
  for (auto& t : def) items.emplace_back(std::move(t));
  s.list("special_tokens", ParamType::string(), Config::list(std::move(items)),
         "strings that encode(text, parse_special) turns into one id each, " + what);
  s.optional(
      "eos", ParamType::string(),
      "the special token that ends a document (default: the end-of-text token, when listed)");
  s.integer("sentinels", 0,
            "T5's sentinels <extra_id_0>, <extra_id_1>, ... added as special tokens after the "
            "listed ones (span_corruption needs as many as a sequence has spans)")
      .min(0);
}

// Errors of a tokenizer's constructor, located at the spec's node.
template <class F>
std::shared_ptr<Tokenizer> located(const Config& c, F make) {
  try {
    return make();
  } catch (const Error& e) {
    c.fail(e.what());
  }
}

// GPT-2's files: `dir` when given, else $KILN_SHARED_DATA/gpt2-bpe, else the shared data
// folder beside the source tree that kiln was built from.
std::string gpt2_dir(const Config& c) {
  if (auto dir = optional_string(c, "dir")) return *dir;
  if (const char* env = std::getenv("KILN_SHARED_DATA"); env && *env)
    return std::string(env) + "/gpt2-bpe";
  return std::string(KILN_SHARED_DATA) + "/gpt2-bpe";
}

std::optional<bool> optional_bool(const Config& c, const std::string& key) {
  const Config* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_bool();
}

void register_components(Registry& r) {
  Schema byte("bytes as tokens: ids 0..255 are the bytes of the UTF-8 text, special tokens follow");
  add_specials(byte, {}, "numbered from 256");
  r.add<Tokenizer>("tokenizer", "byte", byte, [](const Config& c) {
    return located(c, [&] {
      return std::make_shared<ByteTokenizer>(specials_of(c), optional_string(c, "eos"));
    });
  });

  Schema chr(
      "characters as tokens: the distinct characters of the training text, in code-point order "
      "(nanoGPT's "
      "shakespeare-char); the vocabulary is saved with the run");
  add_specials(chr, {}, "numbered after the characters");
  chr.optional("chars", ParamType::string(),
               "a fixed vocabulary: the characters of this string (no fitting)");
  chr.choice("unknown", {"error", "skip", "replace"}, "error",
             "a character outside the vocabulary: an error naming it and its position, dropped, "
             "or written as `replacement`");
  chr.string("replacement", "?",
             "with unknown = \"replace\": the character (in the vocabulary) written instead");
  r.add<Tokenizer>("tokenizer", "char", chr, [](const Config& c) {
    return located(c, [&] {
      const std::string unknown = c.get<std::string>("unknown");
      const UnknownChar policy = unknown == "skip"      ? UnknownChar::skip
                                 : unknown == "replace" ? UnknownChar::replace
                                                        : UnknownChar::error;
      return std::make_shared<CharTokenizer>(specials_of(c), optional_string(c, "eos"),
                                             optional_string(c, "chars"), policy,
                                             c.get<std::string>("replacement"));
    });
  });

  Schema bpe(
      "byte-level BPE trained on the training text with GPT-2's pre-tokenisation; deterministic "
      "(ties go to "
      "the byte-wise smaller pair); saved as encoder.json and vocab.bpe");
  bpe.integer("vocab_size", 4096,
              "tokens in all: the 256 bytes, the learned merges and the special tokens")
      .min(257);
  bpe.integer("min_frequency", 2,
              "stop merging when no pair occurs this often (the vocabulary is then smaller)")
      .min(1);
  add_specials(bpe, {"<|endoftext|>"}, "numbered last; never merged with text");
  r.add<Tokenizer>("tokenizer", "bpe", bpe, [](const Config& c) {
    return located(c, [&] {
      return BpeTokenizer::trainable(c.get<int64_t>("vocab_size"), c.get<int64_t>("min_frequency"),
                                     specials_of(c), optional_string(c, "eos"));
    });
  });

  Schema gpt2(
      "GPT-2's byte-level BPE (50257 tokens, <|endoftext|> = 50256) read from encoder.json and "
      "vocab.bpe, "
      "with GPT-2's exact pre-tokenisation");
  gpt2.optional("dir", ParamType::string(),
                "folder holding encoder.json and vocab.bpe (default: $KILN_SHARED_DATA/gpt2-bpe, "
                "else the shared "
                "data beside the source tree)");
  gpt2.optional("encoder_json", ParamType::string(),
                "path of encoder.json (default: dir/encoder.json)");
  gpt2.optional("vocab_bpe", ParamType::string(), "path of vocab.bpe (default: dir/vocab.bpe)");
  add_specials(gpt2, {"<|endoftext|>"}, "with their ids in encoder.json, or numbered after it");
  r.add<Tokenizer>("tokenizer", "gpt2", gpt2, [](const Config& c) {
    const std::string dir = gpt2_dir(c);
    std::string encoder =
        optional_string(c, "encoder_json").value_or(join_path(dir, "encoder.json"));
    std::string vocab = optional_string(c, "vocab_bpe").value_or(join_path(dir, "vocab.bpe"));
    return located(c, [&] {
      return BpeTokenizer::gpt2(encoder, vocab, specials_of(c), optional_string(c, "eos"),
                                c.where());
    });
  });

  Schema wp(
      "BERT's WordPiece: BERT's basic tokenisation (lowercasing, accents, punctuation, CJK) then "
      "the longest pieces of the vocabulary from each word's start (##-prefixed after the "
      "first); the vocabulary is a BERT vocab.txt or is learned from the training text");
  wp.optional("vocab", ParamType::string(),
              "a BERT vocab.txt (one piece a line, the id is the line number); without it the "
              "vocabulary is learned from the training text");
  wp.integer("vocab_size", 8192,
             "learning: tokens in all (special tokens, the alphabet and the learned pieces)")
      .min(2);
  wp.integer("min_frequency", 2, "learning: stop when no pair of pieces occurs this often").min(1);
  wp.boolean("lowercase", true, "lowercase the text (uncased BERT)");
  wp.optional("strip_accents", ParamType::boolean(),
              "drop accents (NFD, then the nonspacing marks); default: as lowercase");
  wp.boolean("split_cjk", true, "make every CJK ideograph a word of its own");
  wp.string("unk", "[UNK]", "the token of a word the vocabulary cannot spell");
  wp.string("prefix", "##", "the prefix of a piece that continues a word");
  wp.integer("max_word_chars", 100, "longer words are the unknown token").min(1);
  add_specials(wp, bert_special_tokens(),
               "with their ids in vocab.txt, or numbered after it (first when learning)");
  r.add<Tokenizer>("tokenizer", "wordpiece", wp, [](const Config& c) {
    WordPieceOptions o;
    o.text.lowercase = c.get<bool>("lowercase");
    o.text.strip_accents = optional_bool(c, "strip_accents").value_or(o.text.lowercase);
    o.text.split_cjk = c.get<bool>("split_cjk");
    o.unk = c.get<std::string>("unk");
    o.prefix = c.get<std::string>("prefix");
    o.max_word_chars = c.get<int64_t>("max_word_chars");
    const int64_t vocab_size = c.get<int64_t>("vocab_size");
    const int64_t min_frequency = c.get<int64_t>("min_frequency");
    std::vector<std::string> specials = specials_of(c);
    std::optional<std::string> eos = optional_string(c, "eos");
    std::optional<std::string> vocab = optional_string(c, "vocab");
    return located(c, [&]() -> std::shared_ptr<Tokenizer> {
      if (vocab) return WordPieceTokenizer::from_vocab_file(*vocab, o, specials, eos);
      return WordPieceTokenizer::trainable(vocab_size, min_frequency, o, specials, eos);
    });
  });
}

}  // namespace
}  // namespace kiln::tokenizers

KILN_PLUGIN("kiln_tokenizers", "0.1.0", kiln::tokenizers::register_components)
