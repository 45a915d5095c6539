#include "plugins/datasets/token_dataset.h"

#include "core/base/error.h"

namespace kiln::datasets {

using data::Split;

namespace {

const char* mode_name(SamplingOptions::Mode m) {
  return m == SamplingOptions::Mode::random ? "random" : "packed";
}

// Stream ids keep the two splits' random draws apart.
constexpr uint32_t kStreamId[2] = {0, 1};

}  // namespace

TokenDataset::TokenDataset(DatasetCommon common) : common_(std::move(common)) {}

bool TokenDataset::needs_documents() const {
  return common_.sampling.mode == SamplingOptions::Mode::packed || common_.sampling.document_mask;
}

void TokenDataset::finish_prepare(const data::PrepareOptions& options) {
  seed_ = options.seed;
  std::optional<int32_t> eos = tokenizer_ ? tokenizer_->eos_id() : std::nullopt;
  for (int s = 0; s < 2; ++s) {
    splits_[s].stream = &stream_;
    // Only the train split is shuffled: evaluation reads val in order.
    samplers_[s] = std::make_unique<Sampler>(&splits_[s], common_.sampling, seed_, kStreamId[s],
                                             eos, s == 0 && common_.sampling.shuffle);
  }
  prepared_ = true;
  if (options.seq_len > 0) {
    check_window(Split::train, options.seq_len);
    if (splits_[1].size() > 0) check_window(Split::val, options.seq_len);
  }
}

void TokenDataset::check_prepared(const char* what) const {
  KILN_CHECK(prepared_, common_.train_where, "Dataset::", what, " before prepare()");
}

void TokenDataset::check_window(Split s, int64_t seq_len) const {
  const int64_t n = splits_[int(s)].size();
  KILN_CHECK(seq_len >= 1, common_.train_where, "sequence length ", seq_len, " must be at least 1");
  if (n >= seq_len + 1) return;
  if (s == Split::train)
    KILN_FAIL(common_.train_where, "the train split has ", n,
              " tokens, fewer than one window of seq_len + 1 = ", seq_len + 1,
              " tokens; use more data or a shorter sequence");
  if (n == 0)
    KILN_FAIL(common_.val_where, "there is no val split to draw from (give split = { val = 0.1 })");
  KILN_FAIL(common_.val_where, "the val split has ", n,
            " tokens, fewer than one window of seq_len + 1 = ", seq_len + 1,
            " tokens; raise split.val or use a shorter sequence");
}

data::Batch TokenDataset::next(Split split, int64_t batch, int64_t seq_len) {
  check_prepared("next");
  KILN_CHECK(batch >= 1, common_.train_where, "batch size ", batch, " must be at least 1");
  check_window(split, seq_len);
  return samplers_[int(split)]->next(batch, seq_len);
}

Config TokenDataset::state() const {
  check_prepared("state");
  Config c = Config::table();
  c.set("sampling", mode_name(common_.sampling.mode));
  c.set("seed", int64_t(seed_));
  for (int s = 0; s < 2; ++s) {
    const SamplerState& st = samplers_[s]->state();
    Config t = Config::table();
    t.set("tokens", splits_[s].size());
    t.set("rows", st.rows);
    t.set("epoch", st.epoch);
    t.set("offset", st.offset);
    c.set(data::split_name(Split(s)), std::move(t));
  }
  return c;
}

void TokenDataset::load_state(const Config& state) {
  check_prepared("load_state");
  const std::string mode = state.get<std::string>("sampling");
  if (mode != mode_name(common_.sampling.mode))
    state.at("sampling")
        .fail("the data state was saved with sampling = \"" + mode +
              "\", but this dataset uses \"" + mode_name(common_.sampling.mode) + "\"");
  const int64_t seed = state.get<int64_t>("seed");
  if (uint64_t(seed) != seed_)
    state.at("seed").fail("the data state was saved with seed " + std::to_string(seed) +
                          ", but this run's seed is " + std::to_string(seed_));
  SamplerState loaded[2];
  for (int s = 0; s < 2; ++s) {
    const Config& t = state.at(data::split_name(Split(s)));
    int64_t tokens = t.get<int64_t>("tokens");
    if (tokens != splits_[s].size())
      t.at("tokens").fail(str_cat("the data changed since the state was saved: the ",
                                  data::split_name(Split(s)), " split had ", tokens,
                                  " tokens and now has ", splits_[s].size()));
    loaded[s] = {t.get<int64_t>("rows"), t.get<int64_t>("epoch"), t.get<int64_t>("offset")};
    if (loaded[s].rows < 0 || loaded[s].epoch < 0 || loaded[s].offset < 0 ||
        loaded[s].offset > tokens)
      t.fail("rows, epoch and offset must be non-negative (offset at most tokens)");
  }
  for (int s = 0; s < 2; ++s) samplers_[s]->set_state(loaded[s]);
}

}  // namespace kiln::datasets
