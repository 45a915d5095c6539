#include "plugins/datasets/preference_dataset.h"

#include "core/data/reference_logps.h"

#include <rapidjson/document.h>

#include <cstdio>
#include <fstream>

#include "core/base/error.h"
#include "core/tensor/factory.h"
#include "plugins/datasets/sources.h"

namespace kiln::datasets {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

PostTrainDataset::PostTrainDataset(PostTrainOptions options,
                                   std::shared_ptr<data::Tokenizer> tokenizer)
    : o_(std::move(options)), tokenizer_(std::move(tokenizer)) {
  KILN_CHECK(tokenizer_ != nullptr, o_.where, "a tokenizer is needed");
}

void PostTrainDataset::load(const std::vector<std::string>& files, std::vector<Example>& first,
                            std::vector<Example>& second) {
  const std::optional<int32_t> eos = tokenizer_->eos_id();
  auto example = [&](const std::string& prompt, const std::string& response) {
    return make_example(*tokenizer_, apply_template(o_.prompt_template, "{prompt}", prompt),
                        apply_template(o_.response_template, "{response}", response), eos);
  };
  for (const std::string& f : files) {
    const std::string content = read_file(f, o_.where);
    if (o_.pairs) {
      PreferenceRecords recs = parse_preferences(content, f, o_.format, o_.where);
      identical_ += recs.identical;
      no_prompt_ += recs.no_prompt;
      for (const PreferenceText& p : recs.pairs) {
        first.push_back(example(p.prompt, p.chosen));
        second.push_back(example(p.prompt, p.rejected));
      }
    } else if (o_.prompts_only) {
      // The prompt field read twice: the records need no response field.
      for (const PromptResponse& p :
           parse_prompt_responses(content, f, o_.prompt_field, o_.prompt_field, o_.where))
        first.push_back(make_example(
            *tokenizer_, apply_template(o_.prompt_template, "{prompt}", p.prompt), "",
            std::nullopt));
    } else {
      for (const PromptResponse& p :
           parse_prompt_responses(content, f, o_.prompt_field, o_.response_field, o_.where))
        first.push_back(example(p.prompt, p.response));
    }
  }
}

void PostTrainDataset::prepare(const data::PrepareOptions& options) {
  seed_ = options.seed;
  KILN_CHECK(!tokenizer_->needs_fit(), o_.where,
             "the tokenizer learns its vocabulary from text; post-training data needs a "
             "tokenizer that is ready (a pretrained BPE, bytes, ...)");
  std::vector<Example> first, second;
  load(expand_paths(o_.paths, o_.where), first, second);
  const int t = int(data::Split::train), v = int(data::Split::val);
  size_t n_train = first.size();
  if (!o_.val_paths.empty())
    load(expand_paths(o_.val_paths, o_.where), first, second);
  else
    n_train -= size_t(double(first.size()) * o_.val_fraction);
  for (size_t i = 0; i < first.size(); ++i) {
    const int s = i < n_train ? t : v;
    if (o_.max_records > 0 && int64_t(first_[s].size()) >= o_.max_records) continue;
    first_[s].push_back(std::move(first[i]));
    if (o_.pairs) second_[s].push_back(std::move(second[i]));
  }
  if (!o_.reference_logps.empty()) {
    // One line per pair kept, train then val: what examples_in_order() gives.
    std::vector<double> ref = data::read_reference_logps(o_.reference_logps, o_.where);
    const size_t kept = first_[t].size() + first_[v].size();
    KILN_CHECK(ref.size() == 2 * kept, o_.where, "\"", o_.reference_logps, "\" holds ",
               ref.size() / 2, " pairs of reference log-probs, the data ", kept,
               " pairs: were they written for other data?");
    ref_[t].assign(ref.begin(), ref.begin() + int64_t(2 * first_[t].size()));
    ref_[v].assign(ref.begin() + int64_t(2 * first_[t].size()), ref.end());
  }
  KILN_CHECK(!first_[t].empty(), o_.where, "no training examples",
             o_.pairs ? str_cat(" (", identical_, " pairs with identical responses and ",
                                no_prompt_, " without a shared prompt were skipped)")
                      : std::string());
  if (o_.pairs && options.progress && (identical_ > 0 || no_prompt_ > 0))
    std::fprintf(stderr,
                 "%sskipped %lld pairs with identical chosen and rejected responses, %lld "
                 "without a shared \"\\n\\nAssistant:\" prompt\n",
                 o_.where.c_str(), (long long)identical_, (long long)no_prompt_);
  if (auto p = tokenizer_->special_id("pad"))
    pad_ = *p;
  else if (auto e = tokenizer_->eos_id())
    pad_ = *e;
  for (int s : {t, v})
    for (const Example& e : first_[s])
      tokens_[s].insert(tokens_[s].end(), e.tokens.begin(), e.tokens.end());
}

size_t PostTrainDataset::index(data::Split split, int64_t drawn) const {
  const size_t n = first_[int(split)].size();
  const uint64_t epoch = uint64_t(drawn) / n, k = uint64_t(drawn) % n;
  if (!o_.shuffle || split == data::Split::val) return size_t(k);
  // The k-th element of the epoch's permutation: a Fisher-Yates shuffle keyed by the seed and
  // the epoch, made once an epoch (kept for the train split, the only one shuffled).
  const uint64_t key = splitmix64(seed_ ^ splitmix64(epoch));
  if (perm_key_ != key || perm_.size() != n) {
    perm_.resize(n);
    for (size_t i = 0; i < n; ++i) perm_[i] = i;
    uint64_t state = key;
    for (size_t i = n - 1; i > 0; --i) {
      state = splitmix64(state);
      std::swap(perm_[i], perm_[size_t(state % (i + 1))]);
    }
    perm_key_ = key;
  }
  return perm_[k];
}

data::Batch PostTrainDataset::next(data::Split split, int64_t batch, int64_t seq_len) {
  const int s = int(split);
  KILN_CHECK(!first_[s].empty(), o_.where, "the ", data::split_name(split),
             " split has no examples");
  KILN_CHECK(batch > 0 && seq_len >= 2, o_.where, "next: need batch > 0 and seq_len >= 2, got ",
             batch, " and ", seq_len);
  if (o_.pairs) {
    std::vector<const Example*> c, r;
    for (int64_t i = 0; i < batch; ++i) {
      const size_t k = index(split, drawn_[s]++);
      c.push_back(&first_[s][k]);
      r.push_back(&second_[s][k]);
    }
    data::Batch b = collate_pairs(c, r, seq_len, pad_);
    if (!ref_[s].empty()) {
      std::vector<double> logps(size_t(2 * batch));
      for (int64_t i = 0; i < batch; ++i) {
        const size_t k = size_t(c[size_t(i)] - first_[s].data());
        logps[size_t(i)] = ref_[s][2 * k];
        logps[size_t(batch + i)] = ref_[s][2 * k + 1];
      }
      b.reference_logps = from_vector<double>(logps, Shape{2 * batch});
    }
    return b;
  }
  // sft: enough examples in order for the rows (packed rows take several).
  std::vector<const Example*> ex;
  const int64_t want = o_.pack ? batch * seq_len : batch;  // more than can fit; trimmed below
  for (int64_t i = 0; i < want; ++i) ex.push_back(&first_[s][index(split, drawn_[s] + i)]);
  size_t used = 0;
  data::Batch b = pack_examples(ex, batch, seq_len, pad_, o_.pack, &used);
  drawn_[s] += int64_t(used);
  return b;
}

data::Batch PostTrainDataset::examples_in_order(data::Split split, size_t first, size_t n,
                                             int64_t seq_len) const {
  const int s = int(split);
  KILN_CHECK(o_.pairs, o_.where, "examples_in_order: this dataset holds no pairs");
  KILN_CHECK(n > 0 && first + n <= first_[s].size(), o_.where, "examples_in_order: pairs [", first,
             ", ", first + n, ") of a split of ", first_[s].size());
  std::vector<const Example*> c, r;
  for (size_t i = first; i < first + n; ++i) {
    c.push_back(&first_[s][i]);
    r.push_back(&second_[s][i]);
  }
  return collate_pairs(c, r, seq_len, pad_);
}

std::span<const int32_t> PostTrainDataset::tokens(data::Split split) const {
  return tokens_[int(split)];
}

Config PostTrainDataset::state() const {
  Config c = Config::table();
  c.set("train", Config(drawn_[0]));
  c.set("val", Config(drawn_[1]));
  return c;
}

void PostTrainDataset::load_state(const Config& state) {
  drawn_[0] = state.at("train").as_int();
  drawn_[1] = state.at("val").as_int();
}

}  // namespace kiln::datasets
