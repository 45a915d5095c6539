#include "plugins/evaluators/perplexity.h"

#include <glob.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/eval/loglikelihood.h"
#include "core/eval/windows.h"
#include "plugins/evaluators/pseudo_perplexity.h"
#include "plugins/evaluators/text_stats.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

const char* method_name(PerplexityMethod m) {
  switch (m) {
    case PerplexityMethod::rolling:
      return "rolling";
    case PerplexityMethod::strided:
      return "strided";
    case PerplexityMethod::pseudo:
      return "pseudo";
  }
  return "?";
}

// The token the first token of each document is conditioned on, and how it was chosen.
struct Prefix {
  std::optional<int32_t> token;
  std::string mode;  // "eos", "token" or "none"
  std::string note;  // for results.json
};

Prefix resolve_prefix(const PerplexityOptions& o, const data::Tokenizer* tokenizer) {
  std::optional<int32_t> eos = tokenizer ? tokenizer->eos_id() : std::nullopt;
  Prefix p;
  if (o.prefix_token) {
    p.token = o.prefix_token;
    p.mode = "token";
    p.note = "the first token of each document is conditioned on token " +
             std::to_string(*o.prefix_token) + " (prefix_token)";
  } else if (o.prefix == "eos" || (o.prefix == "auto" && eos)) {
    // lm-evaluation-harness's prefix token is BOS when the tokenizer has one, else EOS. kiln's
    // Tokenizer declares only EOS (GPT-2's BOS is the same token); a tokenizer with its own BOS
    // (LLaMA's <s>) needs prefix_token to match the harness.
    KILN_CHECK(
        eos,
        "perplexity: prefix = \"eos\" but the tokenizer has no end-of-text token (use prefix = "
        "\"none\", or give prefix_token)");
    p.token = eos;
    p.mode = "eos";
    p.note =
        "the first token of each document is conditioned on EOS (id " + std::to_string(*eos) +
        ", lm-evaluation-harness's prefix token for a tokenizer without a separate BOS); no BOS is "
        "added and EOS itself is never scored";
  } else {
    p.mode = "none";
    p.note = std::string("no prefix token") +
             (o.prefix == "auto" ? " (the tokenizer has no EOS)" : "") +
             ": the first token of each document is context only and not scored";
  }
  return p;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, "perplexity: cannot read ", path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool has_glob_chars(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

std::vector<std::string> expand(const std::string& pattern) {
  if (!has_glob_chars(pattern)) {
    std::error_code ec;
    KILN_CHECK(fs::is_regular_file(pattern, ec), "perplexity: path ", pattern, ": no such file");
    return {pattern};
  }
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);  // sorted by name
  std::vector<std::string> files;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::error_code ec;
      if (fs::is_regular_file(g.gl_pathv[i], ec)) files.emplace_back(g.gl_pathv[i]);
    }
  ::globfree(&g);
  KILN_CHECK(!files.empty(), "perplexity: path ", pattern, ": no file matches");
  return files;
}

// A progress line on a terminal: "perplexity: 120/1742 windows".
std::function<void(int64_t, int64_t)> progress_line(const std::string& name, bool on) {
  if (!on || !::isatty(STDERR_FILENO)) return {};
  return [name](int64_t done, int64_t total) {
    std::fprintf(stderr, "\r%s: %lld/%lld windows", name.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace

PerplexityEvaluator::PerplexityEvaluator(PerplexityOptions options) : options_(std::move(options)) {
  KILN_CHECK(options_.prefix == "auto" || options_.prefix == "eos" || options_.prefix == "none",
             "perplexity: prefix must be \"auto\", \"eos\" or \"none\", got \"", options_.prefix,
             "\"");
  KILN_CHECK(!options_.context || *options_.context >= 2,
             "perplexity: context must be >= 2 tokens, got ", *options_.context);
  KILN_CHECK(!options_.stride || options_.method == PerplexityMethod::strided,
             "perplexity: stride applies to method = \"strided\" only");
  KILN_CHECK(!options_.limit || *options_.limit >= 1, "perplexity: limit must be >= 1, got ",
             *options_.limit);
}

std::vector<Document> PerplexityEvaluator::split_documents(std::span<const int32_t> tokens,
                                                           std::optional<int32_t> eos,
                                                           const data::Tokenizer& tokenizer) {
  std::vector<Document> docs;
  Document cur;
  auto flush = [&] {
    if (!cur.tokens.empty()) docs.push_back(std::move(cur));
    cur = Document{};
  };
  for (int32_t t : tokens) {
    if (eos && t == *eos) {
      flush();
      continue;
    }
    cur.tokens.push_back(t);
    cur.text += tokenizer.token_bytes(t);
  }
  flush();
  return docs;
}

std::vector<Document> PerplexityEvaluator::read_documents(const std::string& path_or_glob,
                                                          const data::Tokenizer& tokenizer) {
  std::vector<Document> docs;
  for (const std::string& file : expand(path_or_glob)) {
    Document d;
    d.text = read_text(file);
    KILN_CHECK(!d.text.empty(), "perplexity: ", file, " is empty: nothing to score");
    d.tokens = tokenizer.encode(d.text, /*parse_special=*/false);
    KILN_CHECK(!d.tokens.empty(), "perplexity: ", file, " encodes to no tokens: nothing to score");
    docs.push_back(std::move(d));
  }
  return docs;
}

Config PerplexityEvaluator::evaluate(eval::EvalContext& ctx) {
  KILN_CHECK(ctx.model, "perplexity: no model to evaluate");
  std::shared_ptr<data::Tokenizer> tokenizer = ctx.tokenizer;
  if (!tokenizer && ctx.dataset) tokenizer = ctx.dataset->tokenizer();
  std::vector<Document> docs;
  std::string source;
  if (!options_.path.empty()) {
    KILN_CHECK(tokenizer, "perplexity: path = ", options_.path,
               " needs the run's tokenizer, and there is none");
    docs = read_documents(options_.path, *tokenizer);
    source = options_.path;
  } else {
    KILN_CHECK(ctx.dataset,
               "perplexity: no held-out text: the run has no dataset to take the val split from "
               "(give path = \"file or glob\")");
    KILN_CHECK(tokenizer, "perplexity: the run has no tokenizer");
    std::span<const int32_t> val = ctx.dataset->tokens(data::Split::val);
    KILN_CHECK(
        !val.empty(),
        "perplexity: the val split is empty (give the data a val split, e.g. split = { val = "
        "0.1 }, or give path = \"file or glob\")");
    docs = split_documents(val, tokenizer->eos_id(), *tokenizer);
    source = "val split";
  }
  if (options_.limit && int64_t(docs.size()) > *options_.limit)
    docs.resize(size_t(*options_.limit));
  return score(*ctx.model, tokenizer.get(), docs, ctx.batch_size, ctx.progress, source, ctx.cache);
}

Config PerplexityEvaluator::score(nn::Model& model, const data::Tokenizer* tokenizer,
                                  const std::vector<Document>& documents, int64_t batch_size,
                                  bool progress, const std::string& source,
                                  eval::RequestCache* cache) const {
  KILN_CHECK(!documents.empty(), "perplexity: no documents to score (", source, ")");
  const int64_t model_context = model.context_length();
  const int64_t L = options_.context.value_or(model_context);
  KILN_CHECK(L >= 2 && L <= model_context, "perplexity: context must lie in [2, ", model_context,
             "] (the model's context length), got ", L);
  int64_t stride = 0;
  if (options_.method == PerplexityMethod::strided) {
    stride = options_.stride.value_or(std::max<int64_t>(1, L / 2));
    KILN_CHECK(stride >= 1 && stride < L, "perplexity: stride must lie in [1, ", L - 1,
               "] (context - 1), got ", stride,
               "; to score disjoint windows use method = \"rolling\"");
  }
  if (tokenizer)
    KILN_CHECK(tokenizer->vocab_size() <= model.vocab_size(),
               "perplexity: the tokenizer's vocabulary (", tokenizer->vocab_size(),
               ") is larger than the model's (", model.vocab_size(), ")");
  if (options_.method == PerplexityMethod::pseudo)
    return score_pseudo(model, tokenizer, documents, L, batch_size, progress, source);
  const Prefix prefix = resolve_prefix(options_, tokenizer);
  if (prefix.token)
    KILN_CHECK(*prefix.token >= 0 && *prefix.token < model.vocab_size(),
               "perplexity: prefix token ", *prefix.token,
               " is outside the model's vocabulary [0, ", model.vocab_size(), ")");

  // Every window of every document, in document order; scored in one batched pass.
  std::vector<eval::LoglikelihoodRequest> requests;
  int64_t bytes = 0, words = 0, tokens = 0;
  for (size_t i = 0; i < documents.size(); ++i) {
    const Document& d = documents[i];
    KILN_CHECK(!d.tokens.empty() && !d.text.empty(), "perplexity: document ", i, " of ", source,
               " is empty: nothing to score");
    std::vector<eval::LoglikelihoodRequest> w =
        options_.method == PerplexityMethod::rolling
            ? eval::rolling_windows(d.tokens, prefix.token, L)
            : eval::strided_windows(d.tokens, prefix.token, L, stride);
    for (eval::LoglikelihoodRequest& r : w) {
      tokens += int64_t(r.continuation.size());
      requests.push_back(std::move(r));
    }
    bytes += int64_t(d.text.size());
    words += count_words(d.text);
  }
  KILN_CHECK(tokens > 0, "perplexity: no token to score in ", source,
             " (every document is one token long and there is no prefix token)");

  eval::LoglikelihoodOptions lo;
  lo.max_length = L;
  lo.batch_size = batch_size;
  lo.progress = progress_line(options_.name, progress);
  lo.cache = cache;
  std::vector<eval::LoglikelihoodResult> scored = eval::loglikelihood(model, requests, lo);
  double logprob = 0;  // f64, in document and window order
  for (const eval::LoglikelihoodResult& r : scored) logprob += r.logprob;
  const double nll = -logprob;

  Config out = Config::table();
  out.set("source", source);
  out.set("documents", int64_t(documents.size()));
  out.set("windows", int64_t(requests.size()));
  out.set("tokens", tokens);
  out.set("bytes", bytes);
  out.set("words", words);
  out.set("nll", nll);
  out.set("nll_per_token", nll / double(tokens));
  out.set("token_perplexity", std::exp(nll / double(tokens)));
  out.set("bits_per_byte", nll / std::log(2.0) / double(bytes));
  out.set("byte_perplexity", std::exp(nll / double(bytes)));
  out.set("word_perplexity", std::exp(nll / double(words)));
  out.set("method", method_name(options_.method));
  out.set("context", L);
  if (options_.method == PerplexityMethod::strided) out.set("stride", stride);
  out.set("prefix", prefix.mode);
  if (prefix.token) out.set("prefix_token", int64_t(*prefix.token));
  out.set("bos_eos", prefix.note);
  out.set("method_detail", options_.method == PerplexityMethod::rolling
                               ? "lm-evaluation-harness loglikelihood_rolling: disjoint windows of "
                                 "`context` predicted tokens "
                                 "(get_rolling_token_windows, context_len 1, make_disjoint_window)"
                               : "Hugging Face perplexity guide: windows of `context` tokens every "
                                 "`stride` tokens, each scoring "
                                 "the tokens the previous window did not reach");
  return out;
}

Config PerplexityEvaluator::score_pseudo(nn::Model& model, const data::Tokenizer* tokenizer,
                                         const std::vector<Document>& documents, int64_t context,
                                         int64_t batch_size, bool progress,
                                         const std::string& source) const {
  std::optional<int32_t> mask = tokenizer ? tokenizer->special_id("mask") : std::nullopt;
  KILN_CHECK(mask, "perplexity: method = \"pseudo\" masks each token in turn, but the ",
             tokenizer ? "tokenizer has no mask token ([MASK] or <mask>)" : "run has no tokenizer");
  std::vector<std::vector<int32_t>> docs;
  int64_t bytes = 0, words = 0;
  for (size_t i = 0; i < documents.size(); ++i) {
    const Document& d = documents[i];
    KILN_CHECK(!d.tokens.empty() && !d.text.empty(), "perplexity: document ", i, " of ", source,
               " is empty: nothing to score");
    docs.push_back(d.tokens);
    bytes += int64_t(d.text.size());
    words += count_words(d.text);
  }
  const PseudoLoglikelihood p = pseudo_loglikelihood(model, docs, *mask, context, batch_size,
                                                     progress_line(options_.name, progress));
  const double nll = -p.logprob;
  Config out = Config::table();
  out.set("source", source);
  out.set("documents", int64_t(documents.size()));
  out.set("windows", p.windows);
  out.set("tokens", p.tokens);
  out.set("bytes", bytes);
  out.set("words", words);
  out.set("nll", nll);
  out.set("nll_per_token", nll / double(p.tokens));
  out.set("token_perplexity", std::exp(nll / double(p.tokens)));
  out.set("bits_per_byte", nll / std::log(2.0) / double(bytes));
  out.set("byte_perplexity", std::exp(nll / double(bytes)));
  out.set("word_perplexity", std::exp(nll / double(words)));
  out.set("method", method_name(options_.method));
  out.set("context", context);
  out.set("mask_token", int64_t(*mask));
  out.set("method_detail",
          "pseudo-perplexity (Salazar et al. 2020): every token masked in turn and scored given "
          "the rest of its window; disjoint windows of `context` tokens; nll is minus the "
          "pseudo-log-likelihood, not a normalised likelihood");
  return out;
}

}  // namespace kiln::evaluators
