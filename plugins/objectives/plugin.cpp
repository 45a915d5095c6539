// The objectives plugin: training losses. causal_lm for decoders; mlm, nsp, sop and rtd for
// encoders (BERT, RoBERTa, ALBERT, ELECTRA); span_corruption and denoising for encoder-decoders
// (T5, BART); bilm for ELMo's bidirectional LM.
#include "core/registry/plugin.h"
#include "plugins/objectives/bilm.h"
#include "plugins/objectives/causal_lm.h"
#include "plugins/objectives/denoising.h"
#include "plugins/objectives/mlm.h"
#include "plugins/objectives/rtd.h"
#include "plugins/objectives/sentence_pair.h"
#include "plugins/objectives/seq2seq.h"
#include "plugins/objectives/span_corruption.h"

namespace kiln::objectives {
namespace {

// The masking parameters of mlm, nsp, sop and rtd, with each one's defaults.
// given (mlm only): the batch arrives masked.
void masking_params(Schema& s, double mask, double random, bool given = false) {
  s.number("rate", 0.15, "probability that a token (or, with whole_word, a word) is selected")
      .range(0, 1);
  s.number("mask", mask, "of the selected tokens: replaced by the mask token").range(0, 1);
  s.number("random", random, "of the selected tokens: replaced by a random ordinary token")
      .range(0, 1);
  if (given)
    s.choice("masking", {"dynamic", "static", "given"}, "dynamic",
             "dynamic: fresh masks each time a row is seen (RoBERTa); static: fixed by the run's "
             "seed and the row's tokens (BERT); given: the data is masked already (its inputs "
             "are read as they are, its targets are the labels, -100 where none)");
  else
    s.choice("masking", {"dynamic", "static"}, "dynamic",
             "dynamic: fresh masks each time a row is seen (RoBERTa); static: fixed by the run's "
             "seed and the row's tokens (BERT)");
  s.boolean("whole_word", false, "select whole words (all their tokens) rather than single tokens");
}

MlmOptions masking_options(const Config& c, bool& fixed) {
  MlmOptions o;
  o.rate = c.get<double>("rate");
  o.mask = c.get<double>("mask");
  o.random = c.get<double>("random");
  o.whole_word = c.get<bool>("whole_word");
  fixed = c.get<std::string>("masking") == "static";
  if (o.mask + o.random > 1)
    c.at("random").fail(str_cat("mask (", o.mask, ") + random (", o.random,
                                ") exceeds 1: they are fractions of the selected tokens"));
  return o;
}

void register_components(Registry& r) {
  Schema causal(
      "next-token prediction: cross-entropy of each position's logits against the next token "
      "(targets of -100 are skipped)");
  causal
      .number("label_smoothing", 0.0,
              "mix the one-hot target with the uniform distribution by this much")
      .range(0, 1);
  r.add<train::Objective>("objective", "causal_lm", causal, [](const Config& c) {
    CausalLMOptions o;
    o.label_smoothing = c.get<double>("label_smoothing");
    return std::make_shared<CausalLM>(o);
  });

  Schema mlm(
      "masked language modelling (BERT, RoBERTa): 15% of tokens selected, of those 80% [MASK], "
      "10% random, 10% unchanged; cross-entropy at the selected tokens (needs a mask token)");
  masking_params(mlm, 0.8, 0.1, /*given=*/true);
  r.add<train::Objective>("objective", "mlm", mlm, [](const Config& c) {
    bool fixed = false;
    MlmOptions o = masking_options(c, fixed);
    return std::make_shared<MaskedLM>(o, fixed, c.get<std::string>("masking") == "given");
  });

  for (PairTask task : {PairTask::nsp, PairTask::sop}) {
    const bool nsp = task == PairTask::nsp;
    Schema s(nsp ? "next-sentence prediction with MLM (BERT): [CLS] A [SEP] B [SEP] with B the "
                   "text after A or, half the time, a random stretch; loss = mlm + nsp"
                 : "sentence-order prediction with MLM (ALBERT): [CLS] A [SEP] B [SEP] with A, B "
                   "consecutive, swapped half the time; loss = mlm + sop");
    masking_params(s, 0.8, 0.1);
    s.boolean("mlm", true, "train MLM on the pairs too (BERT and ALBERT do)");
    r.add<train::Objective>("objective", nsp ? "nsp" : "sop", s, [task](const Config& c) {
      bool fixed = false;
      MlmOptions o = masking_options(c, fixed);
      return std::make_shared<SentencePairObjective>(task, o, fixed, c.get<bool>("mlm"));
    });
  }

  Schema rtd(
      "replaced-token detection (ELECTRA): the generator's MLM loss plus lambda times the "
      "discriminator's binary cross-entropy on original vs replaced tokens (replacements sampled "
      "from the generator, no gradient through the sampling)");
  masking_params(rtd, 0.85, 0.0);
  rtd.number("lambda", 50.0, "weight of the discriminator's loss").min(0);
  rtd.number("temperature", 1.0, "the generator's sampling temperature").min(1e-6);
  r.add<train::Objective>("objective", "rtd", rtd, [](const Config& c) {
    bool fixed = false;
    MlmOptions o = masking_options(c, fixed);
    return std::make_shared<ReplacedTokenDetection>(o, fixed, c.get<double>("lambda"),
                                                    c.get<double>("temperature"));
  });

  Schema span(
      "T5's span corruption: noise spans (density 0.15, mean length 3) replaced by sentinels "
      "<extra_id_N> in the encoder's input; the decoder writes each sentinel and its span "
      "(needs a pad token and sentinels)");
  span.number("noise_density", 0.15, "fraction of tokens that are noise").range(1e-6, 0.999);
  span.number("mean_span_length", 3.0, "mean length of a noise span, in tokens").min(1);
  span.boolean("eos", true, "end inputs and targets with the tokenizer's EOS when it has one");
  r.add<train::Objective>("objective", "span_corruption", span, [](const Config& c) {
    SpanCorruptionOptions o;
    o.noise_density = c.get<double>("noise_density");
    o.mean_span_length = c.get<double>("mean_span_length");
    o.eos = c.get<bool>("eos");
    return std::make_shared<SpanCorruptionObjective>(o);
  });

  Schema s2s(
      "sequence-to-sequence on the data's own pairs: the encoder reads the batch's inputs, the "
      "decoder writes its targets with teacher forcing (-100: no loss); for data corrupted or "
      "paired beforehand (an encoder-decoder)");
  r.add<train::Objective>("objective", "seq2seq", s2s,
                          [](const Config&) { return std::make_shared<Seq2SeqObjective>(); });

  Schema den(
      "BART's denoising: sentence permutation, text infilling (Poisson span lengths, one mask "
      "token a span, zero-length spans insert one) and token deletion; the decoder writes the "
      "original (needs mask and pad tokens)");
  den.number("mask_ratio", 0.3, "text infilling: fraction of words masked (0: off)").range(0, 1);
  den.number("poisson_lambda", 3.0, "text infilling: mean span length, in words").min(1e-6);
  den.number("random_ratio", 0.0,
             "text infilling: a span becomes a random token instead of the mask this often")
      .range(0, 1);
  den.boolean("whole_word", true, "spans count words (fairseq's mask_whole_words), not tokens");
  den.number("permute_sentences", 1.0, "fraction of sentences shuffled (0: off)").range(0, 1);
  den.number("delete_ratio", 0.0, "token deletion: probability that a token is removed")
      .range(0, 1);
  den.string("sentence_ends", ".!?",
             "a token ends a sentence when its last non-space character is one of these");
  r.add<train::Objective>("objective", "denoising", den, [](const Config& c) {
    DenoisingOptions o;
    o.infill.ratio = c.get<double>("mask_ratio");
    o.infill.lambda = c.get<double>("poisson_lambda");
    o.infill.random_ratio = c.get<double>("random_ratio");
    o.whole_word = c.get<bool>("whole_word");
    o.permute_sentences = c.get<double>("permute_sentences");
    o.delete_ratio = c.get<double>("delete_ratio");
    o.sentence_ends = c.get<std::string>("sentence_ends");
    return std::make_shared<DenoisingObjective>(o);
  });

  Schema bilm(
      "bidirectional LM (ELMo): the mean of the forward LM's and the backward LM's "
      "cross-entropies (needs a biLM model)");
  r.add<train::Objective>("objective", "bilm", bilm,
                          [](const Config&) { return std::make_shared<BiLMObjective>(); });
}

}  // namespace
}  // namespace kiln::objectives

KILN_PLUGIN("kiln_objectives", "0.1.0", kiln::objectives::register_components)
