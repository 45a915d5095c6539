#include "core/eval/generate_until.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>

#include "core/base/error.h"
#include "core/eval/loglikelihood.h"
#include "core/eval/request_cache.h"
#include "core/generation/generate.h"
#include "core/ops/batch_invariant.h"

namespace kiln::eval {

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += char(c);
      ++i;
      continue;
    }
    // The sequence length and the allowed range of the second byte (no overlongs, no
    // surrogates, nothing above U+10FFFF), as in the Unicode standard's table 3-7.
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      n = 2;
    else if (c == 0xE0)
      n = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC)
      n = 3;
    else if (c == 0xED)
      n = 3, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF)
      n = 3;
    else if (c == 0xF0)
      n = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      n = 4;
    else if (c == 0xF4)
      n = 4, hi = 0x8F;
    size_t k = 1;  // bytes of a maximal valid prefix
    if (n > 0)
      for (; k < n && i + k < s.size(); ++k) {
        const unsigned char d = static_cast<unsigned char>(s[i + k]);
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) break;
      }
    if (n > 0 && k == n) {
      out.append(s.substr(i, n));
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the maximal subpart (or the lone bad byte)
    }
    i += k;
  }
  return out;
}

namespace {

// The engine without the cache; on_batch(indices) is called after each batch with the
// requests it answered.
std::vector<GenerateUntilResult> run_requests(
    nn::Model& model, const data::Tokenizer& tokenizer,
    const std::vector<GenerateUntilRequest>& requests, const GenerateUntilOptions& options,
    const std::function<void(const std::vector<size_t>&, const std::vector<GenerateUntilResult>&)>&
        on_batch) {
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.context_length();
  KILN_CHECK(max_length >= 2 && max_length <= model.context_length(), "generate_until: max_length ",
             max_length, " must lie in [2, ", model.context_length(),
             "] (the model's context length)");
  KILN_CHECK(options.batch_size >= 1, "generate_until: batch size must be >= 1, got ",
             options.batch_size);
  const int64_t V = model.vocab_size();
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateUntilRequest& r = requests[i];
    KILN_CHECK(!r.context.empty(), "generate_until: request ", i,
               " has an empty context (give at least one token, e.g. the BOS/EOS token)");
    KILN_CHECK(r.max_tokens >= 1 && r.max_tokens < max_length, "generate_until: request ", i,
               " asks for ", r.max_tokens, " new tokens; expected 1 .. ", max_length - 1,
               " (max_length ", max_length, " holds the context and the answer)");
    for (int32_t t : r.context)
      KILN_CHECK(t >= 0 && t < V, "generate_until: request ", i, " holds token ", t,
                 ", outside the model's vocabulary [0, ", V, ")");
  }
  // Groups of requests that share one generate() call's options, in order of first appearance.
  std::map<std::pair<std::vector<std::string>, int64_t>, size_t> group_of;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto [it, inserted] =
        group_of.try_emplace({requests[i].until, requests[i].max_tokens}, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::vector<GenerateUntilResult> results(requests.size());
  const int64_t total = int64_t(requests.size());
  int64_t done = 0;
  ops::BatchInvariant invariant(options.batch_invariant);
  for (std::vector<size_t>& group : groups) {
    const GenerateUntilRequest& first = requests[group.front()];
    const int64_t keep = max_length - first.max_tokens;
    // The harness's context[-(max_length - max_gen_toks):].
    auto cut = [&](size_t i) {
      return std::min<int64_t>(int64_t(requests[i].context.size()), keep);
    };
    std::stable_sort(group.begin(), group.end(),
                     [&](size_t a, size_t b) { return cut(a) > cut(b); });
    generation::GenerateOptions go;
    go.max_tokens = first.max_tokens;
    go.temperature = 0;
    go.stop = first.until;
    if (options.stop_at_eos)
      if (std::optional<int32_t> eos = tokenizer.eos_id()) go.stop_tokens.push_back(*eos);
    for (size_t start = 0; start < group.size(); start += size_t(options.batch_size)) {
      const size_t end = std::min(group.size(), start + size_t(options.batch_size));
      std::vector<std::vector<int32_t>> prompts;
      for (size_t k = start; k < end; ++k) {
        const std::vector<int32_t>& c = requests[group[k]].context;
        prompts.emplace_back(c.end() - cut(group[k]), c.end());
      }
      std::vector<generation::Generation> out =
          generation::generate(model, prompts, go, &tokenizer);
      for (size_t k = start; k < end; ++k) {
        GenerateUntilResult& r = results[group[k]];
        generation::Generation& g = out[k - start];
        // generate() decodes the EOS that stopped a row with the rest; the harness cuts the
        // answer before it.
        r.text = valid_utf8(
            g.finish == generation::FinishReason::stop_token
                ? tokenizer.decode(std::vector<int32_t>(g.tokens.begin(), g.tokens.end() - 1))
                : g.text);
        r.tokens = std::move(g.tokens);
        r.finish = generation::finish_reason_name(g.finish);
        r.context_dropped = int64_t(requests[group[k]].context.size()) - cut(group[k]);
      }
      done += int64_t(end - start);
      if (on_batch)
        on_batch(std::vector<size_t>(group.begin() + long(start), group.begin() + long(end)),
                 results);
      if (options.progress) options.progress(done, total);
    }
  }
  return results;
}

}  // namespace

std::vector<GenerateUntilResult> generate_until(nn::Model& model, const data::Tokenizer& tokenizer,
                                                const std::vector<GenerateUntilRequest>& requests,
                                                const GenerateUntilOptions& options) {
  count_requests(0, int64_t(requests.size()), 0);
  if (!options.cache) return run_requests(model, tokenizer, requests, options, nullptr);
  // As loglikelihood: cached answers are reused, the others kept batch by batch.
  RequestCache& cache = *options.cache;
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.context_length();
  std::vector<std::string> keys(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateUntilRequest& r = requests[i];
    std::vector<int64_t> fields = {max_length, r.max_tokens, options.stop_at_eos ? 1 : 0,
                                   options.batch_invariant ? 1 : 0, int64_t(r.context.size())};
    fields.insert(fields.end(), r.context.begin(), r.context.end());
    keys[i] = cache.key("generate_until", fields, r.until);
  }
  return through_cache<GenerateUntilRequest, GenerateUntilResult>(
      cache, requests, keys, options,
      [&](const std::string& key) { return cache.find_generation(key); },
      [&](const std::vector<GenerateUntilRequest>& todo, const GenerateUntilOptions& o,
          const auto& on_batch) { return run_requests(model, tokenizer, todo, o, on_batch); });
}

std::vector<std::string> ModelTextGenerator::generate(const std::vector<TextRequest>& requests) {
  std::vector<GenerateUntilRequest> encoded;
  encoded.reserve(requests.size());
  for (const TextRequest& t : requests) {
    GenerateUntilRequest r;
    if (prefix_) r.context.push_back(*prefix_);
    const std::vector<int32_t> ids = tokenizer_.encode(t.context);
    r.context.insert(r.context.end(), ids.begin(), ids.end());
    r.until = t.until;
    r.max_tokens = t.max_tokens;
    encoded.push_back(std::move(r));
  }
  std::vector<GenerateUntilResult> results = generate_until(model_, tokenizer_, encoded, options_);
  std::vector<std::string> out;
  out.reserve(results.size());
  dropped_ = truncated_ = 0;
  for (GenerateUntilResult& r : results) {
    dropped_ += r.context_dropped;
    truncated_ += r.context_dropped > 0;
    out.push_back(std::move(r.text));
  }
  return out;
}

}  // namespace kiln::eval
