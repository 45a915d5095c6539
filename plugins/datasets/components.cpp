// The dataset components: schemas and factories of text, jsonl, shards, and the post-training
// data: preference, prompt_response and prompts.
#include "plugins/datasets/components.h"

#include "core/registry/registry.h"
#include "plugins/datasets/preference_dataset.h"
#include "plugins/datasets/shards_dataset.h"
#include "plugins/datasets/sources.h"
#include "plugins/datasets/text_dataset.h"

namespace kiln::datasets {
namespace {

// "spec.lua:3: data.path: " for errors about a field, or "text.path: " when the config did not
// come from a spec.
std::string where_of(const Config& node, const std::string& fallback) {
  std::string w = node.where();
  return w.empty() ? fallback + ": " : w;
}

void add_path(Schema& s, const std::string& doc) {
  Param p;
  p.name = "path";
  p.type = ParamType::any();
  p.required = true;
  p.doc = doc;
  s.add(p);
}

void add_sampling(Schema& s) {
  s.choice("sampling", {"random", "packed"}, "random",
           "random: windows at uniform random offsets (nanoGPT's get_batch); packed: documents "
           "concatenated into rows, each token a target once an epoch");
  s.boolean("shuffle", true,
            "packed: shuffle the order of the train documents every epoch (by the run's seed)");
  s.boolean("document_mask", false,
            "give segment ids and per-document positions, so attention can stay within a document");
}

DatasetCommon read_common(const Config& c, const std::string& name) {
  DatasetCommon d;
  d.sampling.mode = c.get<std::string>("sampling") == "packed" ? SamplingOptions::Mode::packed
                                                               : SamplingOptions::Mode::random;
  d.sampling.shuffle = c.get<bool>("shuffle");
  d.sampling.document_mask = c.get<bool>("document_mask");
  d.train_where = where_of(c.at("path"), name + ".path");
  d.val_where = d.train_where;
  return d;
}

// split = { val = fraction } or { val = files }; the node's val field names the errors.
void read_text_split(const Config& c, const std::string& name, DatasetCommon& common,
                     TextOptions& o) {
  const Config& split = c.at("split");
  if (split.is_list() && split.size() == 0) {  // Lua's {} reads as an empty list
    o.val_fraction = 0;
    return;
  }
  for (const std::string& k : split.keys())
    if (k != "val")
      split.fail("unknown key \"" + k + "\" (a split is { val = fraction } or { val = files })");
  const Config* val = split.find("val");
  if (!val || val->is_null()) {
    o.val_fraction = 0;
    return;
  }
  common.val_where = where_of(*val, name + ".split.val");
  if (val->is_number()) {
    o.val_fraction = val->as_number();
    if (!(o.val_fraction >= 0 && o.val_fraction < 1))
      val->fail("expected a fraction in [0, 1) (or files of the val split), got " +
                std::to_string(o.val_fraction));
  } else {
    o.val_paths = path_patterns(*val);
  }
}

std::shared_ptr<data::Tokenizer> make_tokenizer(const Config& node) {
  return Registry::global().create<data::Tokenizer>(node);
}

Config default_split() {
  Config t = Config::table();
  t.set("val", 0.1);
  return t;
}

void register_text(Registry& r) {
  Schema s(
      "text files and globs: each file one document (or split at `separator`), each document "
      "after the tokenizer's end-of-text; nanoGPT's train/val split");
  add_path(s, "a file, a glob (data/*.txt), or a list of them; *.gz files are decompressed");
  s.component("tokenizer", "tokenizer", std::nullopt,
              "the tokenizer (fitted on the text first when it learns its vocabulary)");
  s.optional("separator", ParamType::string(),
             "splits each file into documents at this string (default: a file is one document)");
  s.table("split", default_split(),
          "{ val = fraction }: the last fraction of the text validates (nanoGPT: 0.1); { val = "
          "files }: "
          "files of their own; { } or { val = 0 }: no val split");
  s.choice("fit", {"all", "train"}, "all",
           "the text a tokenizer that learns its vocabulary is fitted on (nanoGPT: all)");
  add_sampling(s);
  r.add<data::Dataset>("dataset", "text", s, [](const Config& c) {
    DatasetCommon common = read_common(c, "text");
    TextOptions o;
    o.paths = path_patterns(c.at("path"));
    if (const Config* sep = c.find("separator"); sep && !sep->is_null()) {
      o.separator = sep->as_string();
      if (o.separator->empty()) sep->fail("the separator must not be empty");
    }
    read_text_split(c, "text", common, o);
    o.fit_on_train_only = c.get<std::string>("fit") == "train";
    return std::make_shared<TextDataset>(common, o, make_tokenizer(c.at("tokenizer")));
  });
}

void register_jsonl(Registry& r) {
  Schema s(
      "JSON lines: a string field of each record is a document, after the tokenizer's end-of-text; "
      "train/val split as text");
  add_path(s, "a .jsonl file, a glob, or a list of them; *.gz files are decompressed");
  s.string("field", std::string("text"), "the field of each record that holds the document");
  s.component("tokenizer", "tokenizer", std::nullopt,
              "the tokenizer (fitted on the text first when it learns its vocabulary)");
  s.table("split", default_split(),
          "{ val = fraction }: the last fraction of the text validates; { val = files }: files of "
          "their own; "
          "{ } or { val = 0 }: no val split");
  s.choice("fit", {"all", "train"}, "all",
           "the text a tokenizer that learns its vocabulary is fitted on");
  add_sampling(s);
  r.add<data::Dataset>("dataset", "jsonl", s, [](const Config& c) {
    DatasetCommon common = read_common(c, "jsonl");
    TextOptions o;
    o.paths = path_patterns(c.at("path"));
    o.field = c.get<std::string>("field");
    if (o.field->empty()) c.at("field").fail("the field name must not be empty");
    read_text_split(c, "jsonl", common, o);
    o.fit_on_train_only = c.get<std::string>("fit") == "train";
    return std::make_shared<TextDataset>(common, o, make_tokenizer(c.at("tokenizer")));
  });
}

void register_shards(Registry& r) {
  Schema s(
      "pre-tokenised shards (`kiln data tokenize` writes them), memory-mapped and read as one "
      "stream");
  add_path(s,
           "the folder kiln data tokenize wrote (train_*.bin, val_*.bin, tokenizer), or shard "
           "files and globs");
  s.optional(
      "tokenizer", ParamType::component("tokenizer"),
      "the tokenizer (default: the one saved beside the shards); its vocabulary must match theirs");
  s.optional("split", ParamType::table(),
             "{ val = fraction }: the last fraction of the stream validates (default: the folder's "
             "val_*.bin, "
             "else 0.1)");
  add_sampling(s);
  r.add<data::Dataset>("dataset", "shards", s, [](const Config& c) {
    DatasetCommon common = read_common(c, "shards");
    ShardsOptions o;
    o.paths = path_patterns(c.at("path"));
    if (const Config* split = c.find("split"); split && split->is_list() && split->size() == 0) {
      o.val_fraction = 0.0;  // Lua's {} reads as an empty list
    } else if (split && !split->is_null()) {
      for (const std::string& k : split->keys())
        if (k != "val")
          split->fail("unknown key \"" + k + "\" (a split of shards is { val = fraction })");
      if (const Config* val = split->find("val"); val && !val->is_null()) {
        common.val_where = where_of(*val, "shards.split.val");
        if (!val->is_number())
          val->fail("expected a fraction in [0, 1), got a " + val->type_name());
        o.val_fraction = val->as_number();
        if (!(*o.val_fraction >= 0 && *o.val_fraction < 1))
          val->fail("expected a fraction in [0, 1), got " + std::to_string(*o.val_fraction));
      } else {
        o.val_fraction = 0.0;
      }
    }
    std::shared_ptr<data::Tokenizer> tok;
    if (const Config* t = c.find("tokenizer"); t && !t->is_null()) tok = make_tokenizer(*t);
    return std::make_shared<ShardsDataset>(common, o, tok);
  });
}

// The fields preference and prompt_response share: files, split, tokenizer, order.
void add_post_training(Schema& s) {
  add_path(s, "JSON-lines files or globs (.gz read decompressed): one string or a list");
  s.number("val", 0.1, "the last fraction of the records validates (when val_path is not set)")
      .range(0, 0.999);
  s.optional("val_path", ParamType::any(), "files or globs of the val split (instead of val)");
  s.component("tokenizer", "tokenizer", std::nullopt,
              "the tokenizer (a ready one: it is not fitted on this data); its end-of-text id "
              "ends every response");
  s.integer("max_records", 0, "keep only the first this many examples of each split (0: all)")
      .min(0);
  s.boolean("shuffle", true, "draw the train examples in an order shuffled each epoch by the seed");
  s.string("prompt_template", "{prompt}",
           "chat template of the prompt: the text with {prompt} replaced by each record's prompt, "
           "e.g. \"<|user|>\\n{prompt}\\n<|assistant|>\\n\" (the prompt's tokens, which get no loss)");
  s.string("response_template", "{response}",
           "chat template of each response (chosen and rejected alike): {response} replaced by "
           "it, e.g. \"{response}<|end|>\"; the EOS follows");
}

PostTrainOptions read_post_training(const Config& c, const std::string& name) {
  PostTrainOptions o;
  o.paths = path_patterns(c.at("path"));
  o.where = where_of(c.at("path"), name + ".path");
  o.val_fraction = c.get<double>("val");
  if (const Config* v = c.find("val_path"); v && !v->is_null()) o.val_paths = path_patterns(*v);
  o.max_records = c.get<int64_t>("max_records");
  o.shuffle = c.get<bool>("shuffle");
  o.prompt_template = c.get<std::string>("prompt_template");
  o.response_template = c.get<std::string>("response_template");
  for (const auto& [key, field] : {std::pair<const char*, const char*>{"prompt_template", "{prompt}"},
                                   {"response_template", "{response}"}})
    if (std::string bad = check_template(c.get<std::string>(key), field); !bad.empty())
      c.at(key).fail(bad);
  return o;
}

void register_post_training(Registry& r) {
  Schema pref(
      "preference pairs for reward_model, dpo and orpo: JSON lines {prompt, chosen, rejected} or "
      "Anthropic hh-rlhf transcripts {chosen, rejected} (the prompt is their longest shared "
      "prefix ending in \"\\n\\nAssistant:\"); one EOS after each response; pairs with "
      "identical responses are skipped and counted; a batch of B pairs is 2 B rows (chosen, "
      "then rejected), targets -100 on the prompt");
  add_post_training(pref);
  pref.choice("format", {"jsonl", "hh-rlhf"}, "jsonl",
              "jsonl: {prompt, chosen, rejected} strings; hh-rlhf: {chosen, rejected} transcripts");
  pref.string("reference_logps", "",
              "JSON lines {\"chosen\": logp, \"rejected\": logp} a line per pair kept (train "
              "then val, in order): the reference model's log-probs computed once (`kiln data "
              "reference-logps SPEC --out FILE` writes them), given to "
              "dpo with each batch (with dpo's reference = \"stored\" no reference model is "
              "kept); empty: none");
  r.add<data::Dataset>("dataset", "preference", pref, [](const Config& c) {
    PostTrainOptions o = read_post_training(c, "preference");
    o.pairs = true;
    o.reference_logps = c.get<std::string>("reference_logps");
    o.format = c.get<std::string>("format");
    return std::make_shared<PostTrainDataset>(o, make_tokenizer(c.at("tokenizer")));
  });

  Schema sft(
      "prompt/response examples for sft: JSON lines of two string fields; the prompt's targets "
      "are -100 and one EOS ends each response; optionally packed several to a row with "
      "per-example segment ids and positions");
  add_post_training(sft);
  sft.string("prompt_field", "prompt", "the field holding the prompt");
  sft.string("response_field", "response", "the field holding the response");
  sft.boolean("pack", false,
              "lay examples end to end in each row, each with its own segment id and positions "
              "(they never attend to each other)");
  r.add<data::Dataset>("dataset", "prompt_response", sft, [](const Config& c) {
    PostTrainOptions o = read_post_training(c, "prompt_response");
    o.pairs = false;
    o.prompt_field = c.get<std::string>("prompt_field");
    o.response_field = c.get<std::string>("response_field");
    o.pack = c.get<bool>("pack");
    return std::make_shared<PostTrainDataset>(o, make_tokenizer(c.at("tokenizer")));
  });

  Schema prompts(
      "prompts for RL (ppo, grpo): JSON lines with a prompt string field; a row is one prompt "
      "(its oldest tokens cut beyond seq_len), padded after it, with every target -100 and "
      "Batch::prompt_lengths set; the objective generates the completions");
  add_post_training(prompts);
  prompts.string("prompt_field", "prompt", "the field holding the prompt");
  r.add<data::Dataset>("dataset", "prompts", prompts, [](const Config& c) {
    PostTrainOptions o = read_post_training(c, "prompts");
    o.pairs = false;
    o.prompts_only = true;
    o.prompt_field = c.get<std::string>("prompt_field");
    return std::make_shared<PostTrainDataset>(o, make_tokenizer(c.at("tokenizer")));
  });
}

}  // namespace

void register_components(Registry& r) {
  register_text(r);
  register_jsonl(r);
  register_shards(r);
  register_post_training(r);
}

}  // namespace kiln::datasets
