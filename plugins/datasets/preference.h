// Post-training data: prompt/response examples (sft) and preference pairs (reward_model, dpo,
// orpo). Records come from JSON lines ({prompt, response}; {prompt, chosen, rejected}) or from
// Anthropic's hh-rlhf transcripts ({chosen, rejected}, each "\n\nHuman: ... \n\nAssistant:
// ...", the prompt being their longest shared prefix that ends in "\n\nAssistant:").
//
// An example is its tokens, prompt then response then exactly one EOS (a response that
// already ends in EOS gets none more), and the prompt's length. As rows: inputs are the whole
// sequence, targets[t] = tokens[t + 1] where that token is part of the response (EOS
// included) and -100 elsewhere (prompt, padding), so every objective scores the response only
// and a reward model finds the last response token one past the last target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/tokenizer.h"

namespace kiln::datasets {

struct PromptResponse {
  std::string prompt, response;
};
struct PreferenceText {
  std::string prompt, chosen, rejected;
};

/// Splits an hh-rlhf pair of transcripts into the prompt (their longest shared prefix that
/// ends in "\n\nAssistant:") and the two responses after it. nullopt when they share no such
/// prefix.
std::optional<PreferenceText> split_hh_rlhf(std::string_view chosen, std::string_view rejected);

/// What reading a file of pairs found.
struct PreferenceRecords {
  std::vector<PreferenceText> pairs;
  int64_t identical = 0;  ///< pairs skipped because chosen and rejected responses are equal
  int64_t no_prompt = 0;  ///< hh-rlhf pairs skipped for want of a shared "\n\nAssistant:" prefix
};

/// Parses JSON lines: format "jsonl" reads {prompt, chosen, rejected} strings; "hh-rlhf" reads
/// {chosen, rejected} transcripts and splits them. `where` prefixes errors, which name
/// file:line.
PreferenceRecords parse_preferences(std::string_view content, const std::string& file,
                                    const std::string& format, const std::string& where);
/// JSON lines of {prompt_field, response_field} strings.
std::vector<PromptResponse> parse_prompt_responses(std::string_view content,
                                                   const std::string& file,
                                                   const std::string& prompt_field,
                                                   const std::string& response_field,
                                                   const std::string& where);

/// A chat template's part: `pattern` with its one `field` ("{prompt}", "{response}") replaced
/// by `text`, e.g. "<|user|>\n{prompt}<|end|>\n<|assistant|>\n". check_template() tells
/// whether a pattern holds the field exactly once.
std::string apply_template(std::string_view pattern, std::string_view field, std::string_view text);
/// "" when `pattern` holds `field` exactly once, else what is wrong.
std::string check_template(std::string_view pattern, std::string_view field);

struct Example {
  std::vector<int32_t> tokens;  ///< prompt, response, EOS
  int64_t prompt_len = 0;
};

/// Tokenises prompt and response apart (so the boundary is exact, as TRL does) and appends
/// `eos` once (nullopt: none), stripping any EOS the response's tokens already end with.
Example make_example(const data::Tokenizer& tok, std::string_view prompt, std::string_view response,
                     std::optional<int32_t> eos);

/// Cuts an example to at most `max_len` tokens: the prompt loses its oldest tokens first (down
/// to one), then the response its last ones.
Example truncate_example(Example e, int64_t max_len);

/// Preference rows: the chosen examples then the rejected ones (Batch::pairs = their number),
/// each row padded with `pad` to the longest row (at most seq_len after truncation).
data::Batch collate_pairs(const std::vector<const Example*>& chosen,
                          const std::vector<const Example*>& rejected, int64_t seq_len,
                          int32_t pad);

/// SFT rows [rows, seq_len]. Unpacked: one example a row. Packed: examples laid end to end
/// (an example that does not fit in what is left of a row starts the next row); each gets its
/// own segment id (1, 2, ... in a row; padding 0) and positions from 0, and no target crosses
/// from one example into the next. Unpacked rows also get Batch::prompt_lengths. Takes examples in order until the rows are full (or the
/// examples run out); `used` is how many it consumed.
data::Batch pack_examples(const std::vector<const Example*>& examples, int64_t rows,
                          int64_t seq_len, int32_t pad, bool packed, size_t* used);

}  // namespace kiln::datasets
