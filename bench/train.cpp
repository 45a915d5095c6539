// bench_train: the speed of whole training steps — forward, backward, gradient clipping and the
// AdamW update — of decoder models built the way `kiln train` builds them: the spec is loaded
// through the DSL, the model, objective and optimizer come from the plugins through the
// registry, and each step is the Trainer's own train_step(). Only the data is synthetic: a
// dataset component of this program (random_tokens) serves uniformly random token windows, so
// no corpus is read and every vocabulary size works.
//
//   shakespeare-char  models/gpt2-char.lua as it is (nanoGPT's shakespeare-char: 4 layers,
//                     4 heads, 128 dims, block 64, batch 12, vocab 65, AdamW, dropout 0)
//   gpt2-124m         models/gpt2.lua (GPT-2 small: 12 layers, 768 dims, 12 heads) with vocab
//                     50304, sequence 256, batch 4, AdamW, grad clip 1.0
//
// Each in f32 and with bf16 autocast (train.precision = "bf16"). Per configuration: warm-up
// steps, then steps timed one by one; ms/step is the fastest step (the machine may be shared:
// the fastest is the one that ran undisturbed), and the median is printed beside it.
// tokens/s = batch * seq_len / (ms/step). MFU = tokens/s * the model's train_flops_per_token
// (6N + 12 L T d, PaLM's formula as nanoGPT uses it) / the GEMM ceiling, which is measured here
// as the trainer measures it (core/train/gemm_ceiling.h, a large f32 GEMM) and recorded in its
// cache, whose highest value is used. Peak RSS is the process's high-water mark over the
// configuration (reset before each through /proc/self/clear_refs where the kernel allows it,
// else the high-water mark since the start, which then includes earlier configurations).
//
// main() prints a table and, with --json, one JSON object as the last line:
//   {"ceiling_gflops": g, "threads": n, "configs": [{"name", "dtype", "ms_per_step",
//    "median_ms_per_step", "tokens_per_s", "mfu", "peak_rss_bytes", "loss"}...]}
// Nothing here fails on time.
//
// Usage: bench_train [--json] [--threads N] [--quick] [--only NAME] [--dtype f32|bf16]
//                    [--steps N] [--warmup N] [--no-measure]
// --no-measure takes the recorded ceiling instead of measuring it (for profiling the steps).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/kiln.h"
#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "core/train/gemm_ceiling.h"
#include "core/train/trainer.h"
#include "dsl/spec.h"

namespace {

using namespace kiln;

// ---- synthetic data -------------------------------------------------------------------------

// Uniformly random tokens: a fixed stream of random ids (train and val alike) from which each
// batch takes windows at random offsets, as the text dataset samples its windows.
class RandomTokens : public data::Dataset {
 public:
  RandomTokens(int64_t vocab, uint64_t seed) : vocab_(vocab), gen_(seed) {
    Generator g(seed ^ 0x5eedull);
    Tensor t = randint(0, vocab, {kTokens}, DType::i32, &g);
    tokens_.assign(t.data<int32_t>(), t.data<int32_t>() + kTokens);
  }
  std::shared_ptr<data::Tokenizer> tokenizer() const override { return nullptr; }
  void prepare(const data::PrepareOptions&) override {}
  data::Batch next(data::Split, int64_t batch, int64_t seq_len) override {
    Tensor starts = randint(0, kTokens - seq_len - 1, {batch}, DType::i64, &gen_);
    Tensor inputs = empty({batch, seq_len}, DType::i64);
    Tensor targets = empty({batch, seq_len}, DType::i64);
    int64_t* in = inputs.data<int64_t>();
    int64_t* tg = targets.data<int64_t>();
    for (int64_t b = 0; b < batch; ++b) {
      const int32_t* w = tokens_.data() + starts.data<int64_t>()[b];
      for (int64_t t = 0; t < seq_len; ++t) {
        in[b * seq_len + t] = w[t];
        tg[b * seq_len + t] = w[t + 1];
      }
    }
    data::Batch out;
    out.inputs = inputs;
    out.targets = targets;
    return out;
  }
  std::span<const int32_t> tokens(data::Split) const override { return tokens_; }
  Config state() const override { return Config::table(); }
  void load_state(const Config&) override {}

 private:
  static constexpr int64_t kTokens = 1 << 20;
  int64_t vocab_;
  Generator gen_;
  std::vector<int32_t> tokens_;
};

void register_random_tokens() {
  Schema s("uniformly random token ids (bench_train's synthetic data)");
  s.integer("vocab", std::nullopt, "ids are drawn from [0, vocab)").min(1);
  s.integer("seed", 0, "the seed of the token stream and of the windows").min(0);
  Registry::global().add<data::Dataset>("dataset", "random_tokens", s, [](const Config& c) {
    return std::make_shared<RandomTokens>(c.get<int64_t>("vocab"),
                                          uint64_t(c.get<int64_t>("seed")));
  });
}

// ---- measurement ----------------------------------------------------------------------------

struct Options {
  int threads = 2;
  bool json = false;
  bool quick = false;
  bool measure = true;  // false: use the recorded ceiling (for profiling the steps alone)
  std::string only, dtype;
  int steps = 0, warmup = -1;  // 0 / -1: the configuration's own
};

struct BenchConfig {
  const char* name;
  const char* spec;  // relative to the source tree
  std::vector<std::string> overrides;
  int warmup, steps;  // defaults; --quick divides them
};

std::vector<BenchConfig> configs() {
  return {
      {"shakespeare-char", "models/gpt2-char.lua", {"data=random_tokens { vocab = 65 }"}, 10, 60},
      {"gpt2-124m",
       "models/gpt2.lua",
       {"model.vocab=50304", "data=random_tokens { vocab = 50304 }",
        "train={ optimizer = adamw { lr = 6e-4, betas = { 0.9, 0.95 }, weight_decay = 0.1 }, "
        "batch = 4, seq_len = 256, steps = 1000000, grad_clip = 1.0 }"},
       2,
       6},
  };
}

// The high-water mark of the resident set, in bytes.
size_t peak_rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return size_t(std::atoll(line.c_str() + 6)) * 1024;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return size_t(u.ru_maxrss) * 1024;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false where not allowed.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return bool(out);
}

// CPU time of the whole process (every thread), in seconds.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Result {
  std::string name, dtype;
  double best_s = 0, median_s = 0, cpu_s = 0, tokens_per_s = 0, mfu = 0, loss = 0;
  int64_t tokens_per_step = 0, params = 0;
  double flops_per_token = 0;
  size_t peak_rss = 0;
  bool peak_since_start = false;  // the peak could not be reset: it covers earlier configs too
};

Result run_config(const BenchConfig& bc, const std::string& dtype, const Options& opt,
                  double ceiling) {
  dsl::SpecOptions so;
  so.overrides = bc.overrides;
  so.overrides.push_back("train.precision=" + dtype);
  Config spec = dsl::load_spec(std::string(KILN_SOURCE_DIR) + "/" + bc.spec, so);

  memory_stats();  // the allocator exists before the cache is emptied
  allocator_for(Device::cpu()).empty_cache();
  const bool reset = reset_peak_rss();

  train::TrainerOptions to;
  // Never written: only train_step() runs, which writes nothing.
  to.out =
      (std::filesystem::temp_directory_path() / ("kiln_bench_train_" + std::to_string(::getpid())))
          .string();
  to.mfu = false;
  to.handle_signals = false;
  train::Trainer trainer(spec, to);

  Result r;
  r.name = bc.name;
  r.dtype = dtype;
  const auto& o = trainer.options();
  r.tokens_per_step = o.batch * o.seq_len * o.grad_accum;
  r.params = trainer.model().num_parameters();
  r.flops_per_token = trainer.model().train_flops_per_token(o.seq_len);

  int warmup = opt.warmup >= 0 ? opt.warmup : bc.warmup;
  int steps = opt.steps > 0 ? opt.steps : bc.steps;
  if (opt.quick) warmup = std::min(warmup, 1), steps = std::min(steps, 2);
  for (int i = 0; i < warmup; ++i) trainer.train_step();
  std::vector<double> times, cpu;
  for (int i = 0; i < steps; ++i) {
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    train::StepReport s = trainer.train_step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back(cpu_seconds() - c0);
    r.loss = s.loss;
  }
  std::sort(times.begin(), times.end());
  r.cpu_s = *std::min_element(cpu.begin(), cpu.end());
  r.best_s = times.front();
  r.median_s = times[times.size() / 2];
  r.tokens_per_s = double(r.tokens_per_step) / r.best_s;
  r.mfu = ceiling > 0 ? r.tokens_per_s * r.flops_per_token / ceiling : 0;
  r.peak_rss = peak_rss();
  r.peak_since_start = !reset;
  return r;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--json] [--threads N] [--quick] [--only shakespeare-char|gpt2-124m] "
               "[--dtype f32|bf16] [--steps N] [--warmup N] [--no-measure]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      opt.json = true;
    else if (a == "--quick")
      opt.quick = true;
    else if (a == "--no-measure")
      opt.measure = false;
    else if (a == "--threads" && i + 1 < argc)
      opt.threads = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc)
      opt.only = argv[++i];
    else if (a == "--dtype" && i + 1 < argc)
      opt.dtype = argv[++i];
    else if (a == "--steps" && i + 1 < argc)
      opt.steps = std::atoi(argv[++i]);
    else if (a == "--warmup" && i + 1 < argc)
      opt.warmup = std::atoi(argv[++i]);
    else
      return usage(argv[0]);
  }
  if (opt.threads < 1 || (!opt.dtype.empty() && opt.dtype != "f32" && opt.dtype != "bf16"))
    return usage(argv[0]);
  try {
    set_num_threads(opt.threads);
    load_default_plugins();
    register_random_tokens();

    // The ceiling as the trainer uses it: this measurement merged with the recorded one.
    const double measured =
        opt.measure ? train::measure_gemm_flops(1536, opt.quick ? 0.2 : 1.0) : 0.0;
    const double ceiling =
        opt.measure ? train::record_gemm_ceiling(measured) : train::gemm_ceiling_flops();
    std::printf(
        "bench_train: %d threads; GEMM ceiling %.1f GFLOP/s (f32 1536^3 measured now: %.1f)\n",
        opt.threads, ceiling / 1e9, measured / 1e9);
    std::printf("  %-17s %-5s %9s %9s %9s %11s %7s %11s %8s %10s\n", "config", "dtype", "ms/step",
                "median", "cpu ms", "tokens/s", "MFU", "peak RSS", "loss", "params");
    std::string json;
    bool any_star = false;
    for (const BenchConfig& bc : configs()) {
      if (!opt.only.empty() && opt.only != bc.name) continue;
      for (const char* dt : {"f32", "bf16"}) {
        if (!opt.dtype.empty() && opt.dtype != dt) continue;
        Result r = run_config(bc, dt, opt, ceiling);
        std::printf("  %-17s %-5s %9.2f %9.2f %9.2f %11.0f %6.1f%% %6.0f MiB%s %8.4f %9.2fM\n",
                    r.name.c_str(), r.dtype.c_str(), r.best_s * 1e3, r.median_s * 1e3,
                    r.cpu_s * 1e3, r.tokens_per_s, r.mfu * 100, double(r.peak_rss) / (1 << 20),
                    r.peak_since_start ? "*" : " ", r.loss, double(r.params) / 1e6);
        std::fflush(stdout);
        any_star |= r.peak_since_start;
        if (!json.empty()) json += ", ";
        json += "{\"name\": \"" + r.name + "\", \"dtype\": \"" + r.dtype +
                "\", \"ms_per_step\": " + fmt("%.3f", r.best_s * 1e3) +
                ", \"median_ms_per_step\": " + fmt("%.3f", r.median_s * 1e3) +
                ", \"cpu_ms_per_step\": " + fmt("%.3f", r.cpu_s * 1e3) +
                ", \"tokens_per_s\": " + fmt("%.1f", r.tokens_per_s) +
                ", \"mfu\": " + fmt("%.4f", r.mfu) +
                ", \"peak_rss_bytes\": " + std::to_string(r.peak_rss) +
                ", \"loss\": " + fmt("%.5f", r.loss) +
                ", \"tokens_per_step\": " + std::to_string(r.tokens_per_step) +
                ", \"train_flops_per_token\": " + fmt("%.6g", r.flops_per_token) + "}";
      }
    }
    std::printf(
        "  ms/step: the fastest timed step (median beside it); cpu ms: the least CPU time of the "
        "process in a step (all threads, spinning included);\n  MFU: tokens/s x train FLOPs per "
        "token / the GEMM ceiling%s\n",
        any_star ? "; * peak RSS since the start (could not be reset)" : "");
    if (opt.json)
      std::printf("{\"ceiling_gflops\": %.2f, \"threads\": %d, \"configs\": [%s]}\n", ceiling / 1e9,
                  opt.threads, json.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
