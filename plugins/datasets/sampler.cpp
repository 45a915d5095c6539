#include "plugins/datasets/sampler.h"

#include <algorithm>
#include <numeric>

#include "core/base/error.h"
#include "core/tensor/factory.h"
#include "kernels/cpu/philox.h"

namespace kiln::datasets {
namespace {

// The last counter word tells the uses of the generator apart, so that windows and shuffles
// never share draws; the stream id (the split) is added to it.
constexpr uint32_t kWindowTag = 0x57494E00u;   // "WIN"
constexpr uint32_t kShuffleTag = 0x53485500u;  // "SHU"

// A uniform integer in [0, range): Lemire's multiply-shift on 64 random bits (bias below
// range / 2^64, far under anything measurable for token counts).
uint64_t bounded(const std::array<uint32_t, 4>& w, uint64_t range) {
  uint64_t x = (uint64_t(w[0]) << 32) | w[1];
  return uint64_t((unsigned __int128)x * range >> 64);
}

std::array<uint32_t, 2> key(uint64_t seed) {
  return {uint32_t(seed), uint32_t(seed >> 32)};
}

}  // namespace

Sampler::Sampler(const SplitTokens* split, SamplingOptions options, uint64_t seed,
                 uint32_t stream_id, std::optional<int32_t> eos, bool shuffle)
    : split_(split),
      options_(options),
      seed_(seed),
      stream_id_(stream_id),
      eos_(eos),
      shuffle_(shuffle) {}

int64_t Sampler::window_start(uint64_t seed, uint32_t stream_id, uint64_t r, int64_t n,
                              int64_t seq_len) {
  KILN_CHECK(n > seq_len, "window_start: ", n, " tokens hold no window of ", seq_len, " + 1");
  auto w =
      cpu::philox4x32_10({uint32_t(r), uint32_t(r >> 32), 0, kWindowTag + stream_id}, key(seed));
  return int64_t(bounded(w, uint64_t(n - seq_len)));
}

std::vector<int64_t> Sampler::epoch_order(uint64_t seed, uint32_t stream_id, int64_t epoch,
                                          int64_t n_docs, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n_docs));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (!shuffle) return order;
  // Fisher-Yates from the back; draw i depends only on (seed, epoch, i).
  for (int64_t i = n_docs - 1; i > 0; --i) {
    auto w = cpu::philox4x32_10(
        {uint32_t(i), uint32_t(uint64_t(i) >> 32), uint32_t(epoch), kShuffleTag + stream_id},
        key(seed));
    std::swap(order[size_t(i)], order[bounded(w, uint64_t(i) + 1)]);
  }
  return order;
}

void Sampler::prepare_epoch(int64_t epoch) {
  if (cached_epoch_ == epoch) return;
  const auto& starts = split_->doc_starts;
  const int64_t n_docs = int64_t(starts.size());
  order_ = epoch_order(seed_, stream_id_, epoch, n_docs, shuffle_);
  cum_.assign(size_t(n_docs) + 1, 0);
  for (int64_t k = 0; k < n_docs; ++k) {
    int64_t d = order_[size_t(k)];
    int64_t end = d + 1 < n_docs ? starts[size_t(d) + 1] : split_->size();
    cum_[size_t(k) + 1] = cum_[size_t(k)] + (end - starts[size_t(d)]);
  }
  cached_epoch_ = epoch;
}

void Sampler::read_window(int64_t start, int64_t len, int32_t* tokens,
                          std::vector<int64_t>* doc_of) const {
  split_->stream->read(split_->begin + start, len, tokens);
  if (!doc_of) return;
  const auto& starts = split_->doc_starts;
  size_t d = size_t(std::upper_bound(starts.begin(), starts.end(), start) - starts.begin()) - 1;
  for (int64_t i = 0; i < len; ++i) {
    while (d + 1 < starts.size() && starts[d + 1] <= start + i) ++d;
    (*doc_of)[size_t(i)] = int64_t(d);
  }
}

void Sampler::read_packed(int64_t offset, int64_t len, int32_t* tokens,
                          std::vector<int64_t>* doc_of) {
  const auto& starts = split_->doc_starts;
  size_t k = size_t(std::upper_bound(cum_.begin(), cum_.end(), offset) - cum_.begin()) - 1;
  int64_t i = 0;
  while (i < len) {
    int64_t d = order_[k];
    int64_t intra = offset + i - cum_[k];
    int64_t m = std::min(len - i, cum_[k + 1] - cum_[k] - intra);
    split_->stream->read(split_->begin + starts[size_t(d)] + intra, m, tokens + i);
    if (doc_of) std::fill(doc_of->begin() + i, doc_of->begin() + i + m, int64_t(k));
    i += m;
    ++k;
  }
}

data::Batch Sampler::next(int64_t batch, int64_t seq_len) {
  KILN_CHECK(batch >= 1 && seq_len >= 1, "Dataset::next: batch ", batch, " and seq_len ", seq_len,
             " must be at least 1");
  const int64_t n = split_->size(), T = seq_len;
  KILN_CHECK(n >= T + 1, "Dataset::next: the split has ", n,
             " tokens, fewer than seq_len + 1 = ", T + 1);
  const bool mask = options_.document_mask;
  std::vector<int64_t> inputs(size_t(batch * T)), targets(size_t(batch * T));
  std::vector<int64_t> segments, positions;
  if (mask) {
    segments.resize(inputs.size());
    positions.resize(inputs.size());
  }
  std::vector<int32_t> row(size_t(T) + 1);
  std::vector<int64_t> doc_of(mask ? size_t(T) + 1 : 0);
  for (int64_t b = 0; b < batch; ++b) {
    if (options_.mode == SamplingOptions::Mode::random) {
      int64_t start = window_start(seed_, stream_id_, uint64_t(state_.rows), n, T);
      read_window(start, T + 1, row.data(), mask ? &doc_of : nullptr);
    } else {
      prepare_epoch(state_.epoch);
      if (state_.offset + T + 1 > cum_.back()) {
        ++state_.epoch;
        state_.offset = 0;
        prepare_epoch(state_.epoch);
      }
      read_packed(state_.offset, T + 1, row.data(), mask ? &doc_of : nullptr);
      state_.offset += T;
    }
    ++state_.rows;
    int64_t* in = inputs.data() + b * T;
    int64_t* tg = targets.data() + b * T;
    for (int64_t t = 0; t < T; ++t) {
      in[t] = row[size_t(t)];
      tg[t] = row[size_t(t) + 1];
    }
    if (!mask) continue;
    int64_t* seg = segments.data() + b * T;
    int64_t* pos = positions.data() + b * T;
    for (int64_t t = 0; t < T; ++t) {
      bool starts_doc = t > 0 && doc_of[size_t(t)] != doc_of[size_t(t) - 1];
      seg[t] = t == 0 ? 0 : seg[t - 1] + (starts_doc ? 1 : 0);
      pos[t] = t == 0 || starts_doc ? 0 : pos[t - 1] + 1;
      bool target_starts_doc = doc_of[size_t(t) + 1] != doc_of[size_t(t)];
      if (target_starts_doc && !(eos_ && row[size_t(t) + 1] == *eos_)) tg[t] = -100;
    }
  }
  data::Batch out;
  out.inputs = from_vector(inputs, {batch, T});
  out.targets = from_vector(targets, {batch, T});
  if (mask) {
    out.segment_ids = from_vector(segments, {batch, T});
    out.positions = from_vector(positions, {batch, T});
  }
  return out;
}

}  // namespace kiln::datasets
