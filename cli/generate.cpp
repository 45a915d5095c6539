// kiln generate RUN|hf:DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
// [--seed S] [--step N]: samples a continuation of the prompt from a run's model, printing each
// token as it comes.
//
// Until the batched, KV-cached generation API lands, each token is sampled from a forward pass
// over the whole (context-cropped) prefix.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "cli/command.h"
#include "core/autograd/autograd.h"
#include "core/tensor/factory.h"
#include "core/train/run.h"
#include "dsl/hf_checkpoint.h"

namespace kiln::cli {

namespace {

struct SampleOptions {
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: all
  double top_p = 1.0;
};

// The next token from one row of logits: greedy at temperature 0, else a draw from the
// temperature-scaled softmax restricted to the top_k most likely tokens and then to the
// smallest set of them whose probability reaches top_p.
int32_t sample(const std::vector<float>& logits, const SampleOptions& o, Generator& gen) {
  const int64_t V = int64_t(logits.size());
  if (o.temperature <= 0)
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  int64_t keep = o.top_k > 0 ? std::min(o.top_k, V) : V;
  std::vector<double> p(static_cast<size_t>(keep));
  const double top = logits[size_t(order[0])];
  double z = 0;
  for (int64_t i = 0; i < keep; ++i)
    z += p[size_t(i)] = std::exp((logits[size_t(order[size_t(i)])] - top) / o.temperature);
  if (o.top_p < 1.0) {
    double cum = 0;
    int64_t n = 0;
    while (n < keep && cum < o.top_p * z) cum += p[size_t(n++)];
    keep = std::max<int64_t>(n, 1);
    z = std::accumulate(p.begin(), p.begin() + keep, 0.0);
  }
  RngState s = gen.reserve(1);
  double u = double(uniform_at(s, 0)) * z;
  for (int64_t i = 0; i < keep; ++i) {
    u -= p[size_t(i)];
    if (u < 0) return order[size_t(i)];
  }
  return order[size_t(keep - 1)];
}

}  // namespace

int run_generate(const std::vector<std::string>& args) {
  po::options_description opts("generate options");
  opts.add_options()("run", po::value<std::string>(),
                     "the run directory kiln train wrote, or hf:DIR (a Hugging Face checkpoint)")(
      "prompt", po::value<std::string>()->default_value(""), "the text to continue")(
      "max-tokens", po::value<int64_t>()->default_value(200), "tokens to generate")(
      "temperature", po::value<double>()->default_value(1.0), "softmax temperature (0: greedy)")(
      "top-k", po::value<int64_t>()->default_value(0),
      "sample among the k most likely tokens (0: all)")(
      "top-p", po::value<double>()->default_value(1.0),
      "nucleus sampling: the smallest set with this probability")(
      "seed", po::value<uint64_t>()->default_value(0), "the seed of the draws")(
      "step", po::value<int64_t>()->default_value(-1),
      "the checkpoint's step (default: the latest)");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm,
            "kiln generate RUN_DIR|hf:DIR --prompt TEXT [--max-tokens N] [--temperature T] "
            "[--top-k K] "
            "[--top-p P] [--seed S]",
            "kiln generate runs/a --prompt \"ROMEO:\" --max-tokens 200 --temperature 0.8"))
    return 0;
  if (!vm.count("run")) throw po::error("expected a run directory");
  SampleOptions so;
  so.temperature = vm["temperature"].as<double>();
  so.top_k = vm["top-k"].as<int64_t>();
  so.top_p = vm["top-p"].as<double>();
  const int64_t max_tokens = vm["max-tokens"].as<int64_t>();
  KILN_CHECK(so.temperature >= 0 && std::isfinite(so.temperature),
             "--temperature must be >= 0, got ", so.temperature);
  KILN_CHECK(so.top_k >= 0, "--top-k must be >= 0, got ", so.top_k);
  KILN_CHECK(so.top_p > 0 && so.top_p <= 1, "--top-p must be in (0, 1], got ", so.top_p);
  KILN_CHECK(max_tokens >= 0, "--max-tokens must be >= 0, got ", max_tokens);

  train::LoadRunOptions lo;
  lo.step = vm["step"].as<int64_t>();
  train::LoadedRun run = hf::load_run_or_hf(vm["run"].as<std::string>(), lo);
  const std::string prompt = vm["prompt"].as<std::string>();
  std::vector<int32_t> ids = run.tokenizer->encode(prompt, /*parse_special=*/true);
  if (ids.empty()) {
    std::optional<int32_t> eos = run.tokenizer->eos_id();
    KILN_CHECK(eos, "--prompt is empty and the tokenizer has no end-of-text token to start from");
    ids.push_back(*eos);
  }
  Generator gen(vm["seed"].as<uint64_t>());
  autograd::NoGrad no_grad;
  const int64_t context = run.model->context_length();
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  for (int64_t i = 0; i < max_tokens; ++i) {
    const int64_t n = std::min<int64_t>(int64_t(ids.size()), context);
    std::vector<int64_t> window(ids.end() - n, ids.end());
    Tensor tokens = from_vector(window, {1, n});
    nn::ForwardState state;
    Tensor logits = run.model->forward(tokens, state);  // [1, n, V]
    std::vector<float> last = logits.select(1, n - 1).select(0, 0).to_vector<float>();
    last.resize(size_t(std::min<int64_t>(int64_t(last.size()), run.tokenizer->vocab_size())));
    const int32_t next = sample(last, so, gen);
    ids.push_back(next);
    const std::string piece = run.tokenizer->token_bytes(next);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    if (run.tokenizer->eos_id() && next == *run.tokenizer->eos_id()) break;
  }
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace kiln::cli
