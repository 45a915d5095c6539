#include "plugins/probes/components.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/eval/probe.h"
#include "core/tensor/factory.h"
#include "plugins/probes/ablation.h"
#include "plugins/probes/common.h"
#include "plugins/probes/linear_probe.h"
#include "plugins/probes/logit_lens.h"
#include "plugins/probes/patching.h"
#include "plugins/probes/svg.h"

namespace kiln::probes {
namespace {

namespace fs = std::filesystem;
using eval::Probe;
using eval::ProbeContext;

Config numbers(const std::vector<double>& v) {
  Config c = Config::list();
  for (double x : v) c.push_back(Config(std::isfinite(x) ? x : 0.0));
  return c;
}
Config integers(const std::vector<int64_t>& v) {
  Config c = Config::list();
  for (int64_t x : v) c.push_back(Config(x));
  return c;
}
Config strings(const std::vector<std::string>& v) {
  Config c = Config::list();
  for (const std::string& x : v) c.push_back(Config(x));
  return c;
}
std::vector<std::string> numbered(int64_t n, const std::string& prefix = "") {
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}
std::string out_file(const ProbeContext& ctx, const std::string& file) {
  return (fs::path(ctx.out_dir) / file).string();
}
// The single token a text encodes to (an answer of activation patching, a lens target).
int64_t single_token(const ProbeContext& ctx, const std::string& text, const std::string& what) {
  KILN_CHECK(ctx.tokenizer, what, ": needs the run's tokenizer");
  std::vector<int32_t> ids = ctx.tokenizer->encode(text);
  KILN_CHECK(ids.size() == 1, what, " \"", text, "\" encodes to ", ids.size(),
             " tokens; expected one");
  return ids[0];
}
Tensor prompt_tokens(const ProbeContext& ctx, const std::string& text) {
  KILN_CHECK(ctx.tokenizer, "probe: needs the run's tokenizer to encode \"", text, "\"");
  return encode_prompt(*ctx.tokenizer, text, *ctx.model);
}

// ---- logit_lens -------------------------------------------------------------------------------

class LogitLensProbe : public Probe {
 public:
  LogitLensProbe(std::string prompt, std::string target, int64_t top_k)
      : prompt_(std::move(prompt)), target_(std::move(target)), top_k_(top_k) {}
  std::string name() const override { return "logit_lens"; }
  Config run(ProbeContext& ctx) override {
    Tensor tokens = prompt_tokens(ctx, prompt_);
    LogitLens lens = logit_lens(*ctx.model, tokens);
    const std::vector<int64_t> ids = row_ids(tokens);
    const std::vector<std::string> labels = token_labels(ctx.tokenizer.get(), ids);
    auto top = lens_top_k(lens, top_k_);
    const int64_t R = int64_t(lens.rows.size()), T = int64_t(ids.size());
    Config out = Config::table();
    out.set("prompt", prompt_);
    out.set("tokens", strings(labels));
    out.set("layers", strings(lens.rows));
    Config rows = Config::list();
    Heatmap top1{"top-1 probability", "layer", "position", lens.rows, labels, {}};
    for (int64_t r = 0; r < R; ++r) {
      Config per_pos = Config::list();
      for (int64_t t = 0; t < T; ++t) {
        const LensTop& k = top[size_t(r)][size_t(t)];
        Config cell = Config::table();
        cell.set("ids", integers(k.ids));
        cell.set("tokens", strings(token_labels(ctx.tokenizer.get(), k.ids)));
        cell.set("probs", numbers(k.probs));
        per_pos.push_back(cell);
        top1.values.push_back(k.probs.empty() ? 0.0 : k.probs[0]);
      }
      rows.push_back(per_pos);
    }
    out.set("top_k", rows);
    std::vector<Heatmap> panels = {top1};
    if (!target_.empty()) {
      const int64_t target = single_token(ctx, target_, "logit_lens: target");
      std::vector<double> prob;
      std::vector<int64_t> rank;
      lens_target(lens, target, prob, rank);
      out.set("target", target_);
      out.set("target_prob", numbers(prob));
      out.set("target_rank", integers(rank));
      panels.insert(panels.begin(), Heatmap{"p(\"" + target_ + "\")", "layer", "position",
                                            lens.rows, labels, prob});
    }
    HeatmapStyle style;
    style.title = "logit lens: " + prompt_;
    style.vmin = 0;
    style.vmax = 1;
    write_file(out_file(ctx, "logit_lens.svg"), heatmap_svg(panels, style));
    out.set("figure", "logit_lens.svg");
    return out;
  }

 private:
  std::string prompt_, target_;
  int64_t top_k_;
};

// ---- attention_patterns -----------------------------------------------------------------------

class AttentionPatternsProbe : public Probe {
 public:
  explicit AttentionPatternsProbe(std::string prompt) : prompt_(std::move(prompt)) {}
  std::string name() const override { return "attention_patterns"; }
  Config run(ProbeContext& ctx) override {
    Tensor tokens = prompt_tokens(ctx, prompt_);
    Tensor p = attention_patterns(*ctx.model, tokens);  // [L, H, T, T]
    const int64_t L = p.size(0), H = p.size(1), T = p.size(2);
    const std::vector<std::string> labels = token_labels(ctx.tokenizer.get(), row_ids(tokens));
    const std::vector<double> v = p.contiguous().to_vector<double>();
    Config out = Config::table();
    out.set("prompt", prompt_);
    out.set("tokens", strings(labels));
    Config layers = Config::list(), figures = Config::list();
    for (int64_t l = 0; l < L; ++l) {
      std::vector<Heatmap> panels;
      Config heads = Config::list();
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> m(v.begin() + ((l * H + h) * T) * T,
                              v.begin() + ((l * H + h + 1) * T) * T);
        panels.push_back(Heatmap{"head " + std::to_string(h), "query", "key", labels, labels, m});
        heads.push_back(numbers(m));
      }
      layers.push_back(heads);
      HeatmapStyle style;
      style.title = "attention patterns, layer " + std::to_string(l);
      style.vmin = 0;
      style.vmax = 1;
      style.max_annotated_cells = 0;
      const std::string file = "attention_layer" + std::to_string(l) + ".svg";
      write_file(out_file(ctx, file), heatmap_svg(panels, style));
      figures.push_back(Config(file));
    }
    out.set("patterns", layers);
    out.set("figures", figures);
    return out;
  }

 private:
  std::string prompt_;
};

// ---- activation_patching ----------------------------------------------------------------------

class PatchingProbe : public Probe {
 public:
  PatchingProbe(std::vector<std::string> clean, std::vector<std::string> corrupted,
                std::vector<std::string> answers, std::vector<std::string> wrong)
      : clean_(std::move(clean)),
        corrupted_(std::move(corrupted)),
        answers_(std::move(answers)),
        wrong_(std::move(wrong)) {}
  std::string name() const override { return "activation_patching"; }
  Config run(ProbeContext& ctx) override {
    PatchingInput in;
    std::vector<Tensor> clean, corrupted;
    for (size_t i = 0; i < clean_.size(); ++i) {
      clean.push_back(prompt_tokens(ctx, clean_[i]));
      corrupted.push_back(prompt_tokens(ctx, corrupted_[i]));
      KILN_CHECK(clean.back().shape() == corrupted.back().shape() &&
                     clean.back().shape() == clean[0].shape(),
                 "activation_patching: every clean and corrupted prompt must encode to the same "
                 "number of tokens; \"",
                 clean_[i], "\" has ", clean.back().size(1), ", \"", corrupted_[i], "\" has ",
                 corrupted.back().size(1), ", the first clean prompt ", clean[0].size(1));
      in.answer.push_back(single_token(ctx, answers_[i], "activation_patching: answer"));
      in.wrong.push_back(single_token(ctx, wrong_[i], "activation_patching: wrong answer"));
    }
    std::vector<int64_t> c_ids, k_ids;
    for (const Tensor& t : clean)
      for (int64_t id : row_ids(t)) c_ids.push_back(id);
    for (const Tensor& t : corrupted)
      for (int64_t id : row_ids(t)) k_ids.push_back(id);
    const int64_t B = int64_t(clean.size()), T = clean[0].size(1);
    in.clean = from_vector(c_ids, {B, T});
    in.corrupted = from_vector(k_ids, {B, T});
    PatchingResult r = activation_patching(*ctx.model, in);

    // Position labels: the first pair's clean token, and "/corrupted" where they differ.
    std::vector<std::string> cl = token_labels(ctx.tokenizer.get(), row_ids(clean[0])),
                             co = token_labels(ctx.tokenizer.get(), row_ids(corrupted[0])), pos;
    for (int64_t t = 0; t < T; ++t)
      pos.push_back(cl[size_t(t)] == co[size_t(t)] ? cl[size_t(t)]
                                                   : cl[size_t(t)] + "/" + co[size_t(t)]);
    const std::vector<std::string> layers = numbered(r.layers);
    Config out = Config::table();
    out.set("clean_logit_diff", r.clean_ld);
    out.set("corrupted_logit_diff", r.corrupted_ld);
    out.set("tokens", strings(pos));
    Config figures = Config::list();
    HeatmapStyle style;
    style.diverging = true;
    style.vmin = -1;
    style.vmax = 1;
    auto emit = [&](const std::string& key, const std::vector<double>& v,
                    const std::vector<std::string>& cols, const std::string& col_axis) {
      if (v.empty()) return;
      out.set(key, numbers(v));
      style.title = "activation patching (" + key + "): normalised logit difference restored";
      const std::string file = "patching_" + key + ".svg";
      write_file(out_file(ctx, file),
                 heatmap_svg({Heatmap{key, "layer", col_axis, layers, cols, v}}, style));
      figures.push_back(Config(file));
    };
    emit("resid", r.resid, pos, "position");
    emit("attn_out", r.attn_out, pos, "position");
    emit("mlp_out", r.mlp_out, pos, "position");
    emit("z", r.z, numbered(r.heads, "H"), "head");
    out.set("figures", figures);
    return out;
  }

 private:
  std::vector<std::string> clean_, corrupted_, answers_, wrong_;
};

// ---- ablation ---------------------------------------------------------------------------------

class AblationProbe : public Probe {
 public:
  AblationProbe(std::vector<std::string> texts, AblationOptions o)
      : texts_(std::move(texts)), o_(o) {}
  std::string name() const override { return "ablation"; }
  Config run(ProbeContext& ctx) override {
    std::vector<int64_t> ids;
    int64_t T = -1;
    for (const std::string& text : texts_) {
      Tensor t = prompt_tokens(ctx, text);
      KILN_CHECK(T < 0 || t.size(1) == T,
                 "ablation: every text must encode to the same number of tokens (", T, "); \"",
                 text, "\" has ", t.size(1));
      T = t.size(1);
      for (int64_t id : row_ids(t)) ids.push_back(id);
    }
    Tensor tokens = from_vector(ids, {int64_t(texts_.size()), T});
    AblationResult r = ablation(*ctx.model, tokens, o_);
    Config out = Config::table();
    out.set("kind", o_.mean ? "mean" : "zero");
    out.set("base_loss", r.base_loss);
    out.set("head_loss", numbers(r.head_loss));
    out.set("mlp_loss", numbers(r.mlp_loss));
    std::vector<double> dh, dm;
    for (double l : r.head_loss) dh.push_back(l - r.base_loss);
    for (double l : r.mlp_loss) dm.push_back(l - r.base_loss);
    out.set("head_loss_change", numbers(dh));
    out.set("mlp_loss_change", numbers(dm));
    std::vector<Heatmap> panels;
    if (!dh.empty())
      panels.push_back(
          Heatmap{"heads", "layer", "head", numbered(r.layers), numbered(r.heads, "H"), dh});
    if (!dm.empty()) panels.push_back(Heatmap{"MLP", "layer", "", numbered(r.layers), {"mlp"}, dm});
    if (!panels.empty()) {
      HeatmapStyle style;
      style.diverging = true;
      style.title = std::string(o_.mean ? "mean" : "zero") + " ablation: change in loss";
      write_file(out_file(ctx, "ablation.svg"), heatmap_svg(panels, style));
      out.set("figure", "ablation.svg");
    }
    return out;
  }

 private:
  std::vector<std::string> texts_;
  AblationOptions o_;
};

// ---- linear_probe -----------------------------------------------------------------------------

// Examples of a JSONL file: {"text" or "tokens": ..., "label": n or "labels": [n, ...]}.
std::vector<ProbeExample> read_examples(const std::string& path, const data::Tokenizer* tokenizer) {
  std::ifstream in(path);
  KILN_CHECK(in, "linear_probe: cannot open ", path);
  std::vector<ProbeExample> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    Config c = Config::from_json(line, where);
    ProbeExample e;
    if (const Config* t = c.find("tokens")) {
      for (const Config& id : t->items()) e.ids.push_back(id.as_int());
    } else {
      KILN_CHECK(c.has("text"), where, ": expected a \"text\" or \"tokens\" field");
      KILN_CHECK(tokenizer, where, ": a \"text\" field needs the run's tokenizer");
      for (int32_t id : tokenizer->encode(c.at("text").as_string())) e.ids.push_back(id);
    }
    if (const Config* ls = c.find("labels")) {
      for (const Config& l : ls->items()) e.labels.push_back(l.as_int());
      KILN_CHECK(e.labels.size() == e.ids.size(), where, ": ", e.labels.size(), " labels for ",
                 e.ids.size(), " tokens (token-level labels need one per token; -1 skips one)");
    } else {
      KILN_CHECK(c.has("label"), where,
                 ": expected a \"label\" (sequence) or \"labels\" (per token) field");
      e.labels.push_back(c.at("label").as_int());
    }
    out.push_back(std::move(e));
  }
  return out;
}

class LinearProbeComponent : public Probe {
 public:
  LinearProbeComponent(std::string path, LinearProbeOptions o)
      : path_(std::move(path)), o_(std::move(o)) {}
  std::string name() const override { return "linear_probe"; }
  Config run(ProbeContext& ctx) override {
    LinearProbeResult r = linear_probe(*ctx.model, read_examples(path_, ctx.tokenizer.get()), o_);
    Config out = Config::table();
    out.set("path", path_);
    out.set("hook", o_.hook);
    out.set("classes", r.classes);
    out.set("train_tokens", r.train_tokens);
    out.set("test_tokens", r.test_tokens);
    out.set("majority", r.majority);
    Config layers = Config::list();
    std::vector<std::string> names;
    std::vector<double> grid;
    for (const LinearProbeLayer& l : r.layers) {
      Config c = Config::table();
      c.set("layer", l.name);
      c.set("hook", l.hook);
      c.set("train_accuracy", l.train_accuracy);
      c.set("accuracy", l.accuracy);
      c.set("control_accuracy", l.control_accuracy);
      layers.push_back(c);
      names.push_back(l.name);
      grid.insert(grid.end(), {l.accuracy, l.control_accuracy, r.majority});
    }
    out.set("layers", layers);
    HeatmapStyle style;
    style.title = "linear probe at " + o_.hook + ": held-out accuracy";
    style.vmin = 0;
    style.vmax = 1;
    write_file(
        out_file(ctx, "linear_probe.svg"),
        heatmap_svg(
            {Heatmap{"accuracy", "layer", "", names, {"probe", "control", "majority"}, grid}},
            style));
    out.set("figure", "linear_probe.svg");
    return out;
  }

 private:
  std::string path_;
  LinearProbeOptions o_;
};

std::vector<std::string> string_list(const Config& c, const std::string& key) {
  std::vector<std::string> out;
  const Config& v = c.at(key);
  if (v.type() == Config::Type::string) return {v.as_string()};
  for (const Config& s : v.items()) out.push_back(s.as_string());
  return out;
}

}  // namespace

void register_components(Registry& r) {
  {
    Schema s(
        "logit lens: each layer's residual stream through the final norm and unembedding; top-k "
        "tokens per layer and position, and the probability and rank of a target token");
    s.string("prompt", std::nullopt, "the text to read");
    s.string("target", std::string(),
             "a text of one token whose probability and rank to follow (\"\": none)");
    s.integer("top_k", 5, "tokens listed per layer and position").min(1);
    r.add<Probe>("probe", "logit_lens", s, [](const Config& c) {
      return std::make_shared<LogitLensProbe>(
          c.get<std::string>("prompt"), c.get<std::string>("target"), c.get<int64_t>("top_k"));
    });
  }
  {
    Schema s("attention patterns: per layer and head, which keys each query position attends to");
    s.string("prompt", std::nullopt, "the text to read");
    r.add<Probe>("probe", "attention_patterns", s, [](const Config& c) {
      return std::make_shared<AttentionPatternsProbe>(c.get<std::string>("prompt"));
    });
  }
  {
    Schema s(
        "activation patching: clean activations patched into corrupted runs per layer x position "
        "(resid, "
        "attn_out, mlp_out) and per head (z); normalised logit difference between two answers");
    s.add(Param{"clean",
                ParamType::any(),
                std::nullopt,
                true,
                {},
                {},
                "clean prompt(s): a string or a list"});
    s.add(Param{"corrupted",
                ParamType::any(),
                std::nullopt,
                true,
                {},
                {},
                "corrupted prompt(s), token by token counterparts of the clean ones"});
    s.add(Param{"answer",
                ParamType::any(),
                std::nullopt,
                true,
                {},
                {},
                "per pair, the clean prompt's answer (a text of one token)"});
    s.add(Param{"wrong",
                ParamType::any(),
                std::nullopt,
                true,
                {},
                {},
                "per pair, the competing answer (the corrupted prompt's, a text of one token)"});
    r.add<Probe>("probe", "activation_patching", s, [](const Config& c) {
      auto clean = string_list(c, "clean"), corrupted = string_list(c, "corrupted"),
           answer = string_list(c, "answer"), wrong = string_list(c, "wrong");
      if (clean.empty()) c.at("clean").fail("give at least one clean prompt");
      if (corrupted.size() != clean.size())
        c.at("corrupted").fail("needs one corrupted prompt per clean prompt");
      if (answer.size() != clean.size()) c.at("answer").fail("needs one answer per prompt pair");
      if (wrong.size() != clean.size())
        c.at("wrong").fail("needs one wrong answer per prompt pair");
      return std::make_shared<PatchingProbe>(clean, corrupted, answer, wrong);
    });
  }
  {
    Schema s(
        "ablation: each attention head (hook_z) and MLP (hook_mlp_out) zeroed or set to its mean "
        "in turn; "
        "the change in next-token loss");
    s.add(Param{"texts",
                ParamType::any(),
                std::nullopt,
                true,
                {},
                {},
                "text(s) scored, a string or a list of texts of one token length"});
    s.choice("kind", {"zero", "mean"}, std::string("zero"),
             "zero ablation, or the mean over the texts' positions");
    s.integer("loss_from", 0, "score the predictions from this position on").min(0);
    r.add<Probe>("probe", "ablation", s, [](const Config& c) {
      AblationOptions o;
      o.mean = c.get<std::string>("kind") == "mean";
      o.loss_from = c.get<int64_t>("loss_from");
      auto texts = string_list(c, "texts");
      if (texts.empty()) c.at("texts").fail("give at least one text");
      return std::make_shared<AblationProbe>(texts, o);
    });
  }
  {
    Schema s(
        "linear probe: softmax regression on one hook point's activations in every layer over a "
        "labelled "
        "JSONL set; held-out accuracy beside the majority baseline and a shuffled-label control");
    s.string("path", std::nullopt,
             "JSONL: {\"text\" or \"tokens\", \"label\": n (at the last token) or \"labels\": [n "
             "per token, -1 "
             "skips]}");
    s.string("hook", std::string("hook_resid_post"),
             "the hook point of each block (blocks.{l}.<hook>)");
    s.number("test_fraction", 0.25, "held-out share of the examples").range(0.01, 0.99);
    s.number("weight_decay", 1e-3, "L2 penalty on the probe's weights").min(0);
    s.integer("steps", 300, "full-batch Adam steps").min(1);
    s.number("lr", 0.05, "Adam's learning rate").min(0);
    s.integer("seed", 0, "the split and the control's shuffle").min(0);
    r.add<Probe>("probe", "linear_probe", s, [](const Config& c) {
      LinearProbeOptions o;
      o.hook = c.get<std::string>("hook");
      o.test_fraction = c.get<double>("test_fraction");
      o.weight_decay = c.get<double>("weight_decay");
      o.steps = c.get<int64_t>("steps");
      o.lr = c.get<double>("lr");
      o.seed = uint64_t(c.get<int64_t>("seed"));
      return std::make_shared<LinearProbeComponent>(c.get<std::string>("path"), o);
    });
  }
}

}  // namespace kiln::probes
