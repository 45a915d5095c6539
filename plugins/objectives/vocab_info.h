// What the corrupting objectives read of a tokenizer once, in prepare(): which ids are special
// (never masked, never drawn as random replacements), where words begin (whole-word masking,
// BART's spans) and where sentences end (BART's sentence permutation), from each token's bytes.
//
// A token begins a word when its bytes begin with whitespace (GPT-2's "Ġword", the wordpiece
// tokenizer's word-initial pieces), when the token before it ends with whitespace (the char and
// byte tokenizers' spaces) or is special, or at the start of a sequence: fairseq's rule for
// BART's whole-word masking, made to work for every tokenizer here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/data/tokenizer.h"

namespace kiln::objectives {

struct VocabInfo {
  int64_t size = 0;
  std::vector<uint8_t> special, begins_space, ends_space, sentence_end;  // by id

  /// sentence_end_chars: a token ends a sentence when its last non-space character is one of
  /// these.
  static VocabInfo from(const data::Tokenizer& tokenizer,
                        const std::string& sentence_end_chars = ".!?");

  bool is_special(int32_t id) const { return id < 0 || id >= size || special[size_t(id)]; }
  /// candidate[i] = 1 where ids[i] is an ordinary token.
  std::vector<uint8_t> candidates(std::span<const int32_t> ids) const;
  std::vector<uint8_t> word_starts(std::span<const int32_t> ids) const;
  std::vector<uint8_t> sentence_ends(std::span<const int32_t> ids) const;
};

/// The id of a special token the objective needs, or a message naming the objective, the
/// role and how to add it ("mlm: the tokenizer has no mask token ([MASK] or <mask>): add one to
/// its special_tokens").
int32_t require_special(const data::Tokenizer* tokenizer, const std::string& objective,
                        const std::string& role);

/// The ids of T5's sentinels <extra_id_0>, <extra_id_1>, ... that the tokenizer has, in order.
std::vector<int32_t> sentinel_ids(const data::Tokenizer& tokenizer);

}  // namespace kiln::objectives
