// bench_tokenizer: throughput of the tokenizers on tiny Shakespeare.
//
//   gpt2       MB/s (text bytes / time) of encode and decode with GPT-2's BPE: on 1 thread with
//              a warm piece cache (the steady state of tokenising a corpus), on the first call
//              of a fresh tokenizer (cold cache), and on --threads threads (text of 1 MiB or more
//              is encoded in chunks in parallel); and the time to read encoder.json/vocab.bpe
//   char       MB/s of encode and decode, and the time to fit the vocabulary
//   bpe_train  seconds to train a byte-level BPE of --vocab tokens on the text (--threads
//              threads pre-tokenise; the merges run on one), and that vocabulary's encode MB/s
//
// The data is ../shared/data/tinyshakespeare/input.txt (or --data FILE); without it the program
// says so and exits 0, as it does without GPT-2's files for that section. main() prints the
// figures and, with --json, one JSON object {"data", "bytes", "threads", "gpt2": {...}, "char":
// {...}, "bpe_train": {...}} as its last line. Each MB/s is from the fastest of several calls
// (the machine may be shared). Nothing here fails on time.
//
// Usage: bench_tokenizer [--json] [--threads N] [--vocab N] [--data FILE] [--quick]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "core/base/threads.h"
#include "plugins/tokenizers/bpe_tokenizer.h"
#include "plugins/tokenizers/bpe_trainer.h"
#include "plugins/tokenizers/char_tokenizer.h"

namespace {

using namespace kiln;
using tokenizers::BpeTokenizer;

struct Options {
  int threads = 2;
  int64_t vocab = 4096;
  bool json = false;
  bool quick = false;
  std::string data = std::string(KILN_SHARED_DATA) + "/tinyshakespeare/input.txt";
  std::string gpt2_dir = std::string(KILN_SHARED_DATA) + "/gpt2-bpe";
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double time_once(const std::function<void()>& f) {
  const auto t = std::chrono::steady_clock::now();
  f();
  return seconds_since(t);
}

// The fastest of `calls` calls (at least one).
double best_of(int calls, const std::function<void()>& f) {
  double best = 1e300;
  for (int i = 0; i < calls; ++i) best = std::min(best, time_once(f));
  return best;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double mb_s(size_t bytes, double s) {
  return double(bytes) / 1e6 / s;
}

// Encode and decode figures of one tokenizer, as JSON fields.
std::string encode_decode(const data::Tokenizer& tok, const std::string& text, int calls,
                          int threads, const char* name) {
  std::vector<int32_t> ids;
  double enc1 = 0, encn = 0;
  {
    ThreadCountGuard g(1);
    enc1 = best_of(calls, [&] { ids = tok.encode(text); });
  }
  {
    ThreadCountGuard g(threads);
    encn = best_of(calls, [&] { ids = tok.encode(text); });
  }
  std::string back;
  const double dec = best_of(calls, [&] { back = tok.decode(ids); });
  if (back != text)
    throw std::runtime_error(std::string(name) + ": decode(encode(text)) differs from the text");
  std::printf(
      "  %-5s encode %8.1f MB/s (1 thread) %8.1f MB/s (%d threads)   decode %8.1f MB/s   %zu "
      "tokens\n",
      name, mb_s(text.size(), enc1), mb_s(text.size(), encn), threads, mb_s(text.size(), dec),
      ids.size());
  return "\"tokens\": " + std::to_string(ids.size()) +
         ", \"encode_mb_s_1t\": " + fmt("%.2f", mb_s(text.size(), enc1)) +
         ", \"encode_mb_s\": " + fmt("%.2f", mb_s(text.size(), encn)) +
         ", \"decode_mb_s\": " + fmt("%.2f", mb_s(text.size(), dec));
}

std::string bench_gpt2(const Options& opt, const std::string& text, int calls) {
  const std::string enc = opt.gpt2_dir + "/encoder.json", voc = opt.gpt2_dir + "/vocab.bpe";
  if (!std::filesystem::exists(enc) || !std::filesystem::exists(voc)) {
    std::printf("  gpt2: skipped, GPT-2's files are not in %s\n", opt.gpt2_dir.c_str());
    return "{\"skipped\": \"no encoder.json/vocab.bpe\"}";
  }
  auto make = [&] { return BpeTokenizer::gpt2(enc, voc, {"<|endoftext|>"}, std::nullopt); };
  auto tok = make();
  const double load = time_once([&] { tok->vocab_size(); });
  double cold = 1e300;
  for (int i = 0; i < std::min(calls, 3); ++i) {
    auto fresh = make();
    fresh->vocab_size();
    ThreadCountGuard g(1);
    cold = std::min(cold, time_once([&] { fresh->encode(text); }));
  }
  std::printf("  gpt2  load %.3f s   cold-cache encode %.1f MB/s (1 thread)\n", load,
              mb_s(text.size(), cold));
  return "{\"load_s\": " + fmt("%.4f", load) +
         ", \"encode_cold_mb_s_1t\": " + fmt("%.2f", mb_s(text.size(), cold)) + ", " +
         encode_decode(*tok, text, calls, opt.threads, "gpt2") + "}";
}

std::string bench_char(const Options& opt, const std::string& text, int calls) {
  tokenizers::CharTokenizer tok;
  const double fit = best_of(calls, [&] { tok.fit({text}); });
  std::printf("  char  fit %.4f s   vocabulary %lld\n", fit,
              static_cast<long long>(tok.vocab_size()));
  return "{\"fit_s\": " + fmt("%.4f", fit) +
         ", \"vocab_size\": " + std::to_string(tok.vocab_size()) + ", " +
         encode_decode(tok, text, calls, opt.threads, "char") + "}";
}

std::string bench_bpe_train(const Options& opt, const std::string& text, int calls) {
  auto tok = BpeTokenizer::trainable(opt.vocab, 2, {"<|endoftext|>"}, std::nullopt);
  ThreadCountGuard g(opt.threads);
  const double train = best_of(std::min(calls, 2), [&] { tok->fit({text}); });
  std::printf("  bpe   training %lld tokens: %.3f s (%d threads); vocabulary %lld\n",
              static_cast<long long>(opt.vocab), train, opt.threads,
              static_cast<long long>(tok->vocab_size()));
  return "{\"vocab_size\": " + std::to_string(tok->vocab_size()) +
         ", \"train_s\": " + fmt("%.4f", train) + ", " +
         encode_decode(*tok, text, calls, opt.threads, "bpe") + "}";
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--json] [--threads N] [--vocab N] [--data FILE] [--quick]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json")
      opt.json = true;
    else if (a == "--quick")
      opt.quick = true;
    else if (a == "--threads" && i + 1 < argc)
      opt.threads = std::atoi(argv[++i]);
    else if (a == "--vocab" && i + 1 < argc)
      opt.vocab = std::atoll(argv[++i]);
    else if (a == "--data" && i + 1 < argc)
      opt.data = argv[++i];
    else
      return usage(argv[0]);
  }
  if (opt.threads < 1 || opt.vocab < 258) return usage(argv[0]);
  if (!std::filesystem::exists(opt.data)) {
    std::printf("bench_tokenizer: skipped, the text %s is absent (see shared/data/README.md)\n",
                opt.data.c_str());
    if (opt.json) std::printf("{\"skipped\": \"no data at %s\"}\n", opt.data.c_str());
    return 0;
  }
  try {
    std::ifstream f(opt.data, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    const std::string text = ss.str();
    const int calls = opt.quick ? 1 : 5;
    std::printf("bench_tokenizer: %s, %zu bytes, %d threads\n", opt.data.c_str(), text.size(),
                opt.threads);
    std::string json = "{\"data\": \"" + opt.data +
                       "\", \"bytes\": " + std::to_string(text.size()) +
                       ", \"threads\": " + std::to_string(opt.threads);
    json += ", \"gpt2\": " + bench_gpt2(opt, text, calls);
    json += ", \"char\": " + bench_char(opt, text, calls);
    json += ", \"bpe_train\": " + bench_bpe_train(opt, text, calls);
    json += "}";
    if (opt.json) std::printf("%s\n", json.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
