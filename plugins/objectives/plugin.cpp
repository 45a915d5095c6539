// The objectives plugin: training losses. causal_lm for decoders; mlm, nsp, sop and rtd for
// encoders (BERT, RoBERTa, ALBERT, ELECTRA); span_corruption and denoising for encoder-decoders
// (T5, BART); bilm for ELMo's bidirectional LM; sft, reward_model, dpo and orpo for
// post-training (with scalar_head, the model a reward model is); ppo and grpo for RL (with
// value_head, ppo's value function; their rewards are components of the kiln_rewards plugin).
#include "core/registry/plugin.h"
#include "plugins/objectives/bilm.h"
#include "plugins/objectives/causal_lm.h"
#include "plugins/objectives/denoising.h"
#include "plugins/objectives/dpo.h"
#include "plugins/objectives/grpo.h"
#include "plugins/objectives/mlm.h"
#include "plugins/objectives/orpo.h"
#include "plugins/objectives/ppo.h"
#include "plugins/objectives/reward_model.h"
#include "plugins/objectives/rtd.h"
#include "plugins/objectives/scalar_head.h"
#include "plugins/objectives/sentence_pair.h"
#include "plugins/objectives/seq2seq.h"
#include "plugins/objectives/sft.h"
#include "plugins/objectives/span_corruption.h"
#include "plugins/objectives/value_head.h"

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

// Post-training: sft, reward_model (and the scalar_head model it trains), dpo, orpo.
void register_posttraining(Registry& r) {
  Schema sft(
      "supervised fine-tuning: mean cross-entropy over the response tokens only (the data sets "
      "prompt targets to -100); packed rows keep to their own example through segment_ids");
  r.add<train::Objective>("objective", "sft", sft,
                          [](const Config&) { return std::make_shared<Sft>(); });

  Schema rm(
      "reward model (TRL's RewardTrainer): Bradley-Terry loss -log sigmoid(r_chosen - "
      "r_rejected) on preference pairs, r read at the last response token of a model with one "
      "output a position (scalar_head); logs accuracy and rewards/*");
  r.add<train::Objective>("objective", "reward_model", rm,
                          [](const Config&) { return std::make_shared<RewardModelObjective>(); });

  Schema dpo(
      "direct preference optimisation (TRL's DPOTrainer): -log sigmoid(beta [(log pi(y_c) - log "
      "ref(y_c)) - (log pi(y_r) - log ref(y_r))]), log-probs summed over the response; the "
      "reference is the starting policy (or the data's stored reference log-probs); logs "
      "rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies, logps/*");
  dpo.number("beta", 0.1, "the inverse temperature: how far the policy may move from the reference")
      .min(1e-9);
  dpo.choice("loss", {"sigmoid", "ipo"}, "sigmoid",
             "sigmoid: DPO; ipo: (h - 1/(2 beta))^2 with length-averaged log-probs (Azar et al.)");
  dpo.number("label_smoothing", 0.0,
             "sigmoid loss only: the assumed probability that a preference label is flipped "
             "(conservative DPO; 0: plain DPO)")
      .range(0, 0.5);
  dpo.choice("reference", {"model", "stored"}, "model",
             "model: a frozen copy of the starting policy; stored: the data's reference "
             "log-probs (Batch::reference_logps), no reference model kept in memory");
  r.add<train::Objective>("objective", "dpo", dpo, [](const Config& c) {
    DpoOptions o;
    o.beta = c.get<double>("beta");
    o.loss = c.get<std::string>("loss") == "ipo" ? DpoLoss::ipo : DpoLoss::sigmoid;
    o.label_smoothing = c.get<double>("label_smoothing");
    o.reference_model = c.get<std::string>("reference") == "model";
    if (o.loss == DpoLoss::ipo && o.label_smoothing > 0)
      c.at("label_smoothing").fail("label smoothing applies to the sigmoid loss, not to ipo");
    return std::make_shared<Dpo>(o);
  });

  Schema orpo(
      "odds-ratio preference optimisation (TRL's ORPOTrainer): NLL of the chosen response + "
      "lambda (-log sigmoid(log odds(y_c) - log odds(y_r))), odds of the length-averaged "
      "log-probs; no reference model");
  orpo.number("lambda", 0.1, "weight of the odds-ratio term (TRL's beta)").min(0);
  r.add<train::Objective>("objective", "orpo", orpo, [](const Config& c) {
    return std::make_shared<Orpo>(c.get<double>("lambda"));
  });

  Schema head(
      "a scalar head on a model (a reward model): a bias-free linear map of the activation at a "
      "hook point to one output a position, [B, T, 1]");
  head.component("model", "model", std::nullopt, "the model the head reads (a decoder)");
  head.string("hook", "ln_final.hook_normalized",
              "the hook point whose activation [B, T, d_model] the head reads");
  head.number("init_std", 0.02, "standard deviation of the head's initial weights").min(0);
  r.add<nn::Model>("model", "scalar_head", head, [](const Config& c) {
    auto inner = Registry::global().create<nn::Model>(c.at("model"));
    return std::make_shared<ScalarHead>(inner, c.get<std::string>("hook"),
                                        c.get<double>("init_std"));
  });
}

// The parameters ppo and grpo share (rollouts, epochs, clipping), with each one's defaults
// (TRL's PPOConfig and GRPOConfig).
void rl_params(Schema& s, int64_t max_tokens, double temperature, int64_t epochs) {
  s.component("reward", "reward", std::nullopt,
              "what the completions are scored by: a rule (token_set { ... }) or a trained "
              "reward model (reward_model { run = ... })");
  s.integer("max_tokens", max_tokens, "new tokens a completion has at most").min(1);
  s.number("temperature", temperature,
           "sampling temperature of the rollouts; log-probs are of logits / temperature (0: "
           "greedy, log-probs of the logits)")
      .min(0);
  s.integer("top_k", 0, "sample from the k most likely tokens (0: all)").min(0);
  s.number("top_p", 1.0, "sample from the most likely tokens up to this mass (1: all)")
      .range(1e-9, 1);
  s.boolean("kv_cache", true,
            "generate with the model's KV cache (false: recompute the prefix each token, for "
            "models without one)");
  s.integer("eos", -1,
            "the token that ends a completion (-1: the tokenizer's end-of-text token; none: "
            "completions run to max_tokens)")
      .min(-1);
  s.integer("epochs", epochs, "optimisation passes over each rollout (TRL's num_ppo_epochs / "
            "num_iterations)")
      .min(1);
  s.integer("minibatches", 1,
            "parts each pass cuts the rollout into, an optimizer step each (rows shuffled each "
            "pass)")
      .min(1);
  s.number("cliprange", 0.2, "the policy ratio is clipped to [1 - cliprange, 1 + cliprange_high]")
      .min(0);
  s.number("cliprange_high", -1.0, "upper clip of the ratio (DAPO's clip-higher; -1: cliprange)")
      .min(-1);
}

RlOptions rl_options(const Config& c) {
  RlOptions o;
  o.max_tokens = c.get<int64_t>("max_tokens");
  o.temperature = c.get<double>("temperature");
  o.top_k = c.get<int64_t>("top_k");
  o.top_p = c.get<double>("top_p");
  o.kv_cache = c.get<bool>("kv_cache");
  if (const int64_t eos = c.get<int64_t>("eos"); eos >= 0) o.eos = int32_t(eos);
  o.epochs = c.get<int64_t>("epochs");
  o.minibatches = c.get<int64_t>("minibatches");
  o.cliprange = c.get<double>("cliprange");
  o.cliprange_high = c.get<double>("cliprange_high");
  return o;
}

// RL: grpo, ppo and ppo's value_head.
void register_rl(Registry& r) {
  Schema grpo(
      "group relative policy optimisation (TRL's GRPOTrainer): G completions a prompt, "
      "advantages (r - group mean) / group std, PPO's clipped ratio loss plus beta k3 KL to "
      "the starting policy; needs prompt data (`prompts`) and a reward; logs reward, kl, "
      "entropy, clip_fraction and the split of time between generation and training");
  rl_params(grpo, 256, 1.0, 1);
  grpo.integer("group", 8, "completions per prompt, G (TRL's num_generations)").min(1);
  grpo.number("beta", 0.04, "weight of the k3 KL to the reference (0: no KL term)").min(0);
  grpo.choice("scale_rewards", {"group", "batch", "none"}, "group",
              "divide r - group mean by the group's std, the batch's, or nothing (Dr. GRPO)");
  grpo.choice("loss_norm", {"token", "sequence", "constant"}, "token",
              "token: mean over all completion tokens (DAPO); sequence: mean per completion "
              "then over completions (the original GRPO); constant: sum / (completions x "
              "max_tokens) (Dr. GRPO)");
  r.add<train::Objective>("objective", "grpo", grpo, [](const Config& c) {
    GrpoOptions g;
    g.group = c.get<int64_t>("group");
    g.beta = c.get<double>("beta");
    const std::string scale = c.get<std::string>("scale_rewards");
    g.scale = scale == "group" ? ScaleRewards::group
              : scale == "batch" ? ScaleRewards::batch
                                 : ScaleRewards::none;
    const std::string norm = c.get<std::string>("loss_norm");
    g.norm = norm == "token" ? LossNorm::token
             : norm == "sequence" ? LossNorm::sequence
                                  : LossNorm::constant;
    RlOptions o = rl_options(c);
    auto reward = Registry::global().create<train::Reward>(c.at("reward"));
    return std::make_shared<Grpo>(o, g, reward);
  });

  Schema ppo(
      "proximal policy optimisation for RLHF (TRL's PPOTrainer): per-token KL penalty to the "
      "starting policy (fixed or adaptive coefficient) with the score at the last token, GAE on "
      "a value head's values, whitened advantages, clipped policy and value losses, several "
      "epochs of minibatches a rollout; the model must be a value_head; logs score, kl, reward, "
      "entropy, clip fractions, value loss and the generation/training time split");
  rl_params(ppo, 53, 0.7, 4);
  ppo.number("kl_coef", 0.05, "the KL penalty's coefficient (the adaptive one's start)").min(0);
  ppo.choice("kl_estimator", {"k1", "k3"}, "k1",
             "per-token KL of the penalty: k1 = log pi - log ref, k3 = exp(-k1) + k1 - 1");
  ppo.boolean("adaptive_kl", false,
              "adapt kl_coef towards kl_target (Ziegler et al.'s proportional controller)");
  ppo.number("kl_target", 6.0, "adaptive KL: the target summed KL of a completion").min(1e-9);
  ppo.number("kl_horizon", 10000.0, "adaptive KL: the horizon, in completions").min(1);
  ppo.number("gamma", 1.0, "discount of GAE").range(0, 1);
  ppo.number("lam", 0.95, "lambda of GAE").range(0, 1);
  ppo.number("cliprange_value", 0.2, "values may move at most this far from the rollout's")
      .min(0);
  ppo.number("vf_coef", 0.1, "weight of the value loss").min(0);
  ppo.boolean("whiten_advantages", true,
              "whiten the advantages over the rollout's tokens (mean 0, variance 1)");
  ppo.number("missing_eos_penalty", 0.0,
             "subtracted from the score of a completion that did not end with EOS (0: none)")
      .min(0);
  r.add<train::Objective>("objective", "ppo", ppo, [](const Config& c) {
    PpoOptions p;
    p.kl_coef = c.get<double>("kl_coef");
    p.k3 = c.get<std::string>("kl_estimator") == "k3";
    p.adaptive_kl = c.get<bool>("adaptive_kl");
    p.kl_target = c.get<double>("kl_target");
    p.kl_horizon = c.get<double>("kl_horizon");
    p.gamma = c.get<double>("gamma");
    p.lam = c.get<double>("lam");
    p.cliprange_value = c.get<double>("cliprange_value");
    p.vf_coef = c.get<double>("vf_coef");
    p.whiten_advantages = c.get<bool>("whiten_advantages");
    p.missing_eos_penalty = c.get<double>("missing_eos_penalty");
    RlOptions o = rl_options(c);
    auto reward = Registry::global().create<train::Reward>(c.at("reward"));
    return std::make_shared<Ppo>(o, p, reward);
  });

  Schema head(
      "a value head on a policy (for ppo): forward gives the policy's logits unchanged, and a "
      "linear map with bias of the activation at a hook point gives one value a position");
  head.component("model", "model", std::nullopt, "the policy (a decoder)");
  head.string("hook", "ln_final.hook_normalized",
              "the hook point whose activation [B, T, d_model] the head reads");
  head.number("init_std", 0.02, "standard deviation of the head's initial weights").min(0);
  head.optional("value_model", ParamType::component("model"),
                "a separate trunk for the values, read at the same hook point (TRL's current "
                "PPO: a critic apart from the policy); default: the policy's own trunk");
  r.add<nn::Model>("model", "value_head", head, [](const Config& c) {
    auto inner = Registry::global().create<nn::Model>(c.at("model"));
    std::shared_ptr<nn::Model> critic;
    if (const Config* v = c.find("value_model"); v && !v->is_null())
      critic = Registry::global().create<nn::Model>(*v);
    return std::make_shared<ValueHead>(inner, c.get<std::string>("hook"),
                                       c.get<double>("init_std"), critic);
  });
}

void register_components(Registry& r) {
  register_posttraining(r);
  register_rl(r);
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
