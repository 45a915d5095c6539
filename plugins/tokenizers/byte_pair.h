// Byte-level BPE: a vocabulary of byte strings and a ranked list of merges. A piece of text
// (one pre-token) starts as its bytes and is merged pair by pair, always the adjacent pair of
// lowest rank, leftmost first, until no pair has a merge: GPT-2's bpe() (which merges every
// occurrence of the best pair in one left-to-right pass, the same result) and tiktoken's.
//
// The vocabulary and merges are read and written in GPT-2's files: encoder.json maps each
// token, written through GPT-2's byte-to-unicode map, to its id; vocab.bpe lists the merges in
// rank order, one "left right" a line after a "#version" line.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugins/tokenizers/flat_table.h"

namespace kiln::tokenizers {

/// GPT-2's bytes_to_unicode(): the printable bytes ! .. ~, ¡ .. ¬ and ® .. ÿ stand for
/// themselves, the other 68 bytes for U+0100 onwards in byte order, so that every token is a
/// printable string (the space is "Ġ", U+0120).
const std::array<char32_t, 256>& byte_to_unicode();
/// A byte string in that alphabet (UTF-8).
std::string bytes_to_unicode_string(std::string_view bytes);
/// The bytes of a string in that alphabet; false when a character is not in it.
bool unicode_string_to_bytes(std::string_view s, std::string& out);

class BytePairEncoder {
 public:
  using Merge = std::pair<int32_t, int32_t>;

  BytePairEncoder();
  ~BytePairEncoder();
  BytePairEncoder(BytePairEncoder&&) noexcept;
  BytePairEncoder& operator=(BytePairEncoder&&) noexcept;

  /// `tokens` are the bytes of each id (special tokens included: they are listed in
  /// `special_ids` and take part in no merge); `merges` are (left, right) id pairs in rank
  /// order, each making the token whose bytes are the two concatenated. Every single byte
  /// must be a token. Throws with a message prefixed by `who` otherwise.
  void build(std::vector<std::string> tokens, std::vector<Merge> merges,
             const std::vector<int32_t>& special_ids, const std::string& who);

  /// Appends the ids of one piece (cached: the same piece is merged once).
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  /// The same without the cache (tests, and pieces too long to be worth caching).
  void encode_piece_uncached(std::string_view piece, std::vector<int32_t>& out) const;

  int64_t size() const { return int64_t(tokens_.size()); }
  const std::string& bytes(int32_t id) const { return tokens_[size_t(id)]; }
  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<Merge>& merges() const { return merges_; }
  int32_t byte_id(unsigned char b) const { return byte_ids_[b]; }

  /// GPT-2's encoder.json and vocab.bpe for this vocabulary.
  std::string encoder_json() const;
  std::string vocab_bpe() const;
  /// Reads them back: the tokens by id, and the merges as id pairs. `encoder_name` and
  /// `vocab_name` (the paths) are named in errors.
  static std::vector<std::string> parse_encoder_json(const std::string& text,
                                                     const std::string& encoder_name);
  static std::vector<Merge> parse_vocab_bpe(const std::string& text,
                                            const std::vector<std::string>& tokens,
                                            const std::string& vocab_name);

 private:
  using MergeInfo = PairTable::Slot;
  struct Cache;

  const MergeInfo* find_merge(int32_t left, int32_t right) const {
    return merge_map_.find(left, right);
  }
  void merge_small(std::string_view piece, std::vector<int32_t>& out) const;
  void merge_large(std::string_view piece, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::vector<Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};
  PairTable merge_map_;
  // The tokens that BPE makes of their own bytes (nearly all): a piece that is one of them is
  // encoded by one look-up, with no merging and no cache.
  TokenTable whole_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace kiln::tokenizers
