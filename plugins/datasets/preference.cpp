#include "plugins/datasets/preference.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/tensor/factory.h"
#include "plugins/datasets/json_lines.h"

namespace kiln::datasets {
namespace {

constexpr std::string_view kAssistant = "\n\nAssistant:";

// Calls f(doc, "file:line: ") for each non-blank line, parsed as a JSON object.
template <class F>
void for_each_record(std::string_view content, const std::string& file, const std::string& where,
                     F&& f) {
  for_each_json_line(content, file, where,
                     [&](const rapidjson::Document& d, const std::string& at, int64_t) {
                       KILN_CHECK(d.IsObject(), at, "the record is not a JSON object");
                       f(d, at);
                     });
}

std::string field(const rapidjson::Document& d, const std::string& name, const std::string& at) {
  auto it = d.FindMember(rapidjson::Value(name.data(), rapidjson::SizeType(name.size())));
  KILN_CHECK(it != d.MemberEnd(), at, "no field \"", name, "\"");
  KILN_CHECK(it->value.IsString(), at, "field \"", name, "\" is not a string");
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

std::optional<PreferenceText> split_hh_rlhf(std::string_view chosen, std::string_view rejected) {
  size_t common = 0;
  while (common < chosen.size() && common < rejected.size() && chosen[common] == rejected[common])
    ++common;
  if (common < kAssistant.size()) return std::nullopt;
  // The last "\n\nAssistant:" that ends within the shared prefix.
  const size_t at = chosen.rfind(kAssistant, common - kAssistant.size());
  if (at == std::string_view::npos) return std::nullopt;
  const size_t cut = at + kAssistant.size();
  return PreferenceText{std::string(chosen.substr(0, cut)), std::string(chosen.substr(cut)),
                        std::string(rejected.substr(cut))};
}

PreferenceRecords parse_preferences(std::string_view content, const std::string& file,
                                    const std::string& format, const std::string& where) {
  KILN_CHECK(format == "jsonl" || format == "hh-rlhf", where, "unknown preference format \"",
             format, "\" (expected \"jsonl\" or \"hh-rlhf\")");
  PreferenceRecords out;
  for_each_record(content, file, where, [&](const rapidjson::Document& d, const std::string& at) {
    PreferenceText p;
    if (format == "hh-rlhf") {
      std::optional<PreferenceText> s =
          split_hh_rlhf(field(d, "chosen", at), field(d, "rejected", at));
      if (!s) {
        ++out.no_prompt;
        return;
      }
      p = std::move(*s);
    } else {
      p = {field(d, "prompt", at), field(d, "chosen", at), field(d, "rejected", at)};
    }
    if (p.chosen == p.rejected) {
      ++out.identical;
      return;
    }
    out.pairs.push_back(std::move(p));
  });
  return out;
}

std::vector<PromptResponse> parse_prompt_responses(std::string_view content,
                                                   const std::string& file,
                                                   const std::string& prompt_field,
                                                   const std::string& response_field,
                                                   const std::string& where) {
  std::vector<PromptResponse> out;
  for_each_record(content, file, where, [&](const rapidjson::Document& d, const std::string& at) {
    out.push_back({field(d, prompt_field, at), field(d, response_field, at)});
  });
  return out;
}

std::string apply_template(std::string_view pattern, std::string_view field, std::string_view text) {
  const size_t at = pattern.find(field);
  if (at == std::string_view::npos) return std::string(pattern);
  std::string out(pattern.substr(0, at));
  out += text;
  out += pattern.substr(at + field.size());
  return out;
}

std::string check_template(std::string_view pattern, std::string_view field) {
  const size_t at = pattern.find(field);
  if (at == std::string_view::npos)
    return str_cat("the template \"", pattern, "\" has no ", field, " to write the text into");
  if (pattern.find(field, at + 1) != std::string_view::npos)
    return str_cat("the template \"", pattern, "\" holds ", field, " more than once");
  return "";
}

Example make_example(const data::Tokenizer& tok, std::string_view prompt, std::string_view response,
                     std::optional<int32_t> eos) {
  Example e;
  e.tokens = tok.encode(prompt);
  e.prompt_len = int64_t(e.tokens.size());
  std::vector<int32_t> r = tok.encode(response);
  if (eos)
    while (!r.empty() && r.back() == *eos) r.pop_back();
  e.tokens.insert(e.tokens.end(), r.begin(), r.end());
  if (eos) e.tokens.push_back(*eos);
  return e;
}

Example truncate_example(Example e, int64_t max_len) {
  KILN_CHECK(max_len >= 2, "truncate_example: max_len must be >= 2, got ", max_len);
  const int64_t n = int64_t(e.tokens.size());
  if (n <= max_len) return e;
  const int64_t response = n - e.prompt_len;
  const int64_t keep_prompt = std::min(
      e.prompt_len, std::max<int64_t>(std::min<int64_t>(e.prompt_len, 1), max_len - response));
  e.tokens.erase(e.tokens.begin(), e.tokens.begin() + (e.prompt_len - keep_prompt));
  e.prompt_len = keep_prompt;
  e.tokens.resize(size_t(max_len));
  return e;
}

namespace {

// Writes one example at [row, offset): inputs, targets (response only, within the example).
void put(const Example& e, int64_t row, int64_t offset, int64_t T, std::vector<int64_t>& in,
         std::vector<int64_t>& tg) {
  const int64_t n = int64_t(e.tokens.size());
  for (int64_t t = 0; t < n; ++t) {
    in[size_t(row * T + offset + t)] = e.tokens[size_t(t)];
    if (t + 1 < n && t + 1 >= e.prompt_len)
      tg[size_t(row * T + offset + t)] = e.tokens[size_t(t + 1)];
  }
}

}  // namespace

data::Batch collate_pairs(const std::vector<const Example*>& chosen,
                          const std::vector<const Example*>& rejected, int64_t seq_len,
                          int32_t pad) {
  KILN_CHECK(!chosen.empty() && chosen.size() == rejected.size(),
             "collate_pairs: expected as many chosen as rejected examples (at least one), got ",
             chosen.size(), " and ", rejected.size());
  std::vector<Example> rows;
  for (const auto* v : {&chosen, &rejected})
    for (const Example* e : *v) rows.push_back(truncate_example(*e, seq_len));
  int64_t T = 1;
  for (const Example& e : rows) T = std::max<int64_t>(T, int64_t(e.tokens.size()));
  const int64_t B = int64_t(rows.size());
  std::vector<int64_t> in(size_t(B * T), pad), tg(size_t(B * T), -100);
  for (int64_t b = 0; b < B; ++b) put(rows[size_t(b)], b, 0, T, in, tg);
  data::Batch batch;
  batch.inputs = from_vector<int64_t>(in, Shape{B, T});
  batch.targets = from_vector<int64_t>(tg, Shape{B, T});
  batch.pairs = int64_t(chosen.size());
  return batch;
}

data::Batch pack_examples(const std::vector<const Example*>& examples, int64_t rows,
                          int64_t seq_len, int32_t pad, bool packed, size_t* used) {
  KILN_CHECK(rows > 0 && seq_len >= 2, "pack_examples: need rows > 0 and seq_len >= 2, got ", rows,
             " and ", seq_len);
  const int64_t T = seq_len;
  std::vector<int64_t> in(size_t(rows * T), pad), tg(size_t(rows * T), -100),
      seg(size_t(rows * T), 0), pos(size_t(rows * T), 0);
  size_t i = 0;
  for (int64_t r = 0; r < rows && i < examples.size(); ++r) {
    int64_t offset = 0, segment = 0;
    while (i < examples.size()) {
      Example e = truncate_example(*examples[i], T);
      const int64_t n = int64_t(e.tokens.size());
      if (offset > 0 && (!packed || offset + n > T)) break;
      put(e, r, offset, T, in, tg);
      ++segment;
      for (int64_t t = 0; t < n; ++t) {
        seg[size_t(r * T + offset + t)] = segment;
        pos[size_t(r * T + offset + t)] = t;
      }
      offset += n;
      ++i;
    }
  }
  if (used) *used = i;
  data::Batch batch;
  batch.inputs = from_vector<int64_t>(in, Shape{rows, T});
  batch.targets = from_vector<int64_t>(tg, Shape{rows, T});
  if (!packed) {
    // One example a row: its prompt (after truncation) leads the row.
    std::vector<int64_t> plen(size_t(rows), 0);
    for (int64_t r = 0; r < rows && size_t(r) < i; ++r)
      plen[size_t(r)] = truncate_example(*examples[size_t(r)], T).prompt_len;
    batch.prompt_lengths = from_vector<int64_t>(plen, Shape{rows});
  }
  if (packed) {
    batch.segment_ids = from_vector<int64_t>(seg, Shape{rows, T});
    batch.positions = from_vector<int64_t>(pos, Shape{rows, T});
  }
  return batch;
}

}  // namespace kiln::datasets
