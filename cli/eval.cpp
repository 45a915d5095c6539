// kiln eval RUN|hf:DIR --suite FILE [--batch N] [--tasks A,B] [--limit N] [--set path=value]:
// scores a run's latest checkpoint with the evaluators a suite lists, prints a Markdown table
// and writes RUN/results.json (whole, or not at all: it is written only after every evaluator
// succeeded, to a temporary name then renamed) and RUN/samples.jsonl (one record per scored
// example of the evaluators that keep them: BBH, AGIEval). --tasks keeps the suite's evaluators
// of those names; --limit scores at most N examples of each task (subject) of the evaluators
// that have tasks (MMLU, BBH, AGIEval); --set changes the run's spec for this evaluation only
// (data.tokenizer.unknown=replace lets a char tokenizer write text with characters it lacks).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/command.h"
#include "core/eval/evaluator.h"
#include "core/eval/loglikelihood.h"
#include "core/eval/request_cache.h"
#include "core/io/file.h"
#include "core/registry/registry.h"
#include "core/train/run.h"
#include "dsl/hf_checkpoint.h"
#include "dsl/spec.h"
#include "dsl/suite.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

// What an evaluation needs of a run: its model with the latest checkpoint's weights, its
// tokenizer and its data (for the val split).
struct OpenedRun {
  std::shared_ptr<nn::Model> model;
  std::shared_ptr<data::Tokenizer> tokenizer;
  std::shared_ptr<data::Dataset> dataset;
  std::string checkpoint;
};

OpenedRun open_run(const std::string& run_dir, bool with_data, bool progress,
                   const std::vector<std::string>& overrides) {
  train::LoadRunOptions o;
  o.prepare_data = with_data;
  o.progress = progress;
  if (!overrides.empty()) {
    KILN_CHECK(!hf::is_hf_ref(run_dir), "--set changes a run's spec; ", run_dir,
               " is a Hugging Face checkpoint, which has none");
    o.edit_spec = [&overrides](Config& spec) {
      for (const std::string& a : overrides) dsl::apply_override(spec, a);
    };
  }
  train::LoadedRun r = hf::load_run_or_hf(run_dir, o);
  return {r.model, r.tokenizer, r.dataset, r.checkpoint};
}

// name, or name_2, name_3, ... when an earlier evaluator took it.
std::string unique_name(const std::vector<std::pair<std::string, Config>>& taken,
                        const std::string& name) {
  auto used = [&](const std::string& n) {
    for (const auto& [t, r] : taken)
      if (t == n) return true;
    return false;
  };
  std::string n = name;
  for (int i = 2; used(n); ++i) n = name + "_" + std::to_string(i);
  return n;
}

// A Markdown table of every number each evaluator reported, in its order.
std::string results_table(const std::vector<std::pair<std::string, Config>>& results) {
  std::vector<std::array<std::string, 3>> rows;
  for (const auto& [name, r] : results) {
    if (!r.is_table()) continue;
    for (const auto& [key, v] : r.entries()) {
      char buf[64];
      if (v.type() == Config::Type::integer)
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v.as_int()));
      else if (v.type() == Config::Type::number)
        std::snprintf(buf, sizeof buf, "%.4f", v.as_number());
      else
        continue;
      rows.push_back({name, key, buf});
    }
  }
  std::array<size_t, 3> w = {9, 6, 5};  // "evaluator", "metric", "value"
  for (const auto& row : rows)
    for (size_t i = 0; i < 3; ++i) w[i] = std::max(w[i], row[i].size());
  std::string out;
  auto line = [&](const std::array<std::string, 3>& cells) {
    for (size_t i = 0; i < 3; ++i) {
      std::string c = cells[i];
      if (i == 2)
        c = std::string(w[i] - c.size(), ' ') + c;  // numbers right-aligned
      else
        c += std::string(w[i] - c.size(), ' ');
      out += "| " + c + " ";
    }
    out += "|\n";
  };
  line({"evaluator", "metric", "value"});
  // Appended piece by piece: g++ 12 warns (-Wrestrict, a false positive) on "|" + string.
  for (size_t i = 0; i < 3; ++i) out.append("|").append(w[i] + (i == 2 ? 1 : 2), '-');
  out += ":|\n";
  for (const auto& row : rows) line(row);
  return out;
}

}  // namespace

int run_eval(const std::vector<std::string>& args) {
  po::options_description opts("eval options");
  opts.add_options()("run", po::value<std::string>(),
                     "the run directory (kiln train --out), or hf:DIR (a Hugging Face checkpoint)")(
      "suite", po::value<std::string>(),
      "a Lua file returning a list of evaluators (eval/suites/standard.lua)")(
      "batch", po::value<int64_t>()->default_value(8),
      "windows/requests per forward pass (results do not depend on it)")(
      "tasks", po::value<std::string>(),
      "comma-separated evaluator names: run only these of the suite (e.g. bbh,mmlu)")(
      "limit", po::value<int64_t>(),
      "score at most N examples of each task/subject (MMLU, BBH, AGIEval), for quick runs")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a field of the run's spec for this evaluation: path=value (repeatable), e.g. "
      "data.tokenizer.unknown=replace for a char tokenizer that meets characters it lacks")(
      "no-cache", po::bool_switch(),
      "do not keep or reuse answers in RUN/eval_cache.log (by default every answer is kept "
      "there, keyed by the model's weights and the request, so that an interrupted evaluation "
      "resumes where it stopped)")("no-progress", po::bool_switch(), "no progress line");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm,
            "kiln eval RUN_DIR|hf:DIR --suite SUITE.lua [--batch N] [--tasks A,B] [--limit N]",
            "kiln eval runs/a --suite eval/suites/standard.lua"))
    return 0;
  if (!vm.count("run")) throw po::error("expected a run directory");
  if (!vm.count("suite"))
    throw po::error("expected --suite FILE (eval/suites/standard.lua is the standard one)");
  const std::string run_dir = vm["run"].as<std::string>(),
                    suite_path = vm["suite"].as<std::string>();
  const int64_t batch = vm["batch"].as<int64_t>();
  KILN_CHECK(batch >= 1, "--batch must be >= 1, got ", batch);
  std::error_code ec;
  KILN_CHECK(fs::is_directory(hf::hf_dir(run_dir), ec), hf::hf_dir(run_dir),
             ": no such run directory");

  // The suite first: a mistake in it shows before a model is loaded.
  std::vector<Config> suite = dsl::load_suite(suite_path);
  std::vector<std::shared_ptr<eval::Evaluator>> evaluators;
  for (const Config& c : suite) evaluators.push_back(Registry::global().create<eval::Evaluator>(c));
  std::optional<int64_t> limit;
  if (vm.count("limit")) {
    limit = vm["limit"].as<int64_t>();
    KILN_CHECK(*limit >= 1, "--limit must be >= 1, got ", *limit);
  }
  std::vector<std::string> tasks;
  if (vm.count("tasks")) {
    std::string list = vm["tasks"].as<std::string>();
    for (size_t a = 0; a <= list.size();) {
      size_t b = list.find(',', a);
      if (b == std::string::npos) b = list.size();
      if (b > a) tasks.push_back(list.substr(a, b - a));
      a = b + 1;
    }
    std::vector<std::shared_ptr<eval::Evaluator>> kept;
    for (const std::string& t : tasks) {
      bool found = false;
      for (const auto& ev : evaluators)
        if (ev->name() == t) found = true;
      std::string names;
      for (const auto& ev : evaluators) names += (names.empty() ? "" : ", ") + ev->name();
      KILN_CHECK(found, "--tasks: the suite has no evaluator named \"", t, "\" (it has: ", names,
                 ")");
    }
    for (const auto& ev : evaluators)
      if (std::find(tasks.begin(), tasks.end(), ev->name()) != tasks.end()) kept.push_back(ev);
    evaluators = std::move(kept);
  }

  bool with_data = false;
  for (const auto& ev : evaluators) with_data |= ev->needs_dataset();
  const bool progress = !vm["no-progress"].as<bool>();
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  OpenedRun run = open_run(run_dir, with_data, progress, overrides);
  eval::EvalContext ctx;
  ctx.model = run.model.get();
  ctx.tokenizer = run.tokenizer;
  ctx.dataset = run.dataset.get();
  ctx.run_dir = hf::hf_dir(run_dir);
  ctx.batch_size = batch;
  ctx.progress = progress;
  ctx.limit = limit;
  std::vector<Config> samples;
  ctx.samples = &samples;
  std::unique_ptr<eval::RequestCache> cache;
  if (!vm["no-cache"].as<bool>()) {
    cache = std::make_unique<eval::RequestCache>(
        (fs::path(ctx.run_dir) / "eval_cache.log").string(),
        eval::model_fingerprint(*run.model, run.tokenizer.get()));
    ctx.cache = cache.get();
    if (cache->loaded() > 0)
      std::cerr << "eval: " << cache->loaded() << " answers in " << cache->path() << "\n";
  }
  const eval::RequestCounts counts0 = eval::request_counts();
  const auto t0 = std::chrono::steady_clock::now();

  std::vector<std::pair<std::string, Config>> results;
  std::string samples_text;
  for (const auto& ev : evaluators) {
    samples.clear();
    const std::string name = unique_name(results, ev->name());
    results.emplace_back(name, ev->evaluate(ctx));
    for (Config& s : samples) {
      Config line = Config::table();
      line.set("evaluator", name);
      for (const auto& [k, v] : s.entries()) line.set(k, v);
      samples_text += line.to_json(false) + "\n";
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const eval::RequestCounts counts1 = eval::request_counts();
  const int64_t ll = counts1.loglikelihood - counts0.loglikelihood,
                gen = counts1.generate_until - counts0.generate_until,
                cached = counts1.cached - counts0.cached;
  std::cout << results_table(results);
  char rate[256];
  std::snprintf(rate, sizeof rate,
                "\n%lld requests (%lld loglikelihood, %lld generate_until; %lld from the cache) "
                "in %.1f s: %.1f requests/s\n",
                static_cast<long long>(ll + gen), static_cast<long long>(ll),
                static_cast<long long>(gen), static_cast<long long>(cached), seconds,
                seconds > 0 ? double(ll + gen) / seconds : 0.0);
  std::cout << rate;
  Config out = Config::table();
  out.set("run", run_dir);
  out.set("checkpoint", run.checkpoint);
  out.set("suite", suite_path);
  out.set("batch_size", batch);
  Config requests = Config::table();
  requests.set("loglikelihood", ll);
  requests.set("generate_until", gen);
  requests.set("cached", cached);
  requests.set("seconds", seconds);
  out.set("requests", requests);
  if (limit) out.set("limit", *limit);
  if (!tasks.empty()) {
    Config t = Config::list();
    for (const std::string& n : tasks) t.push_back(Config(n));
    out.set("tasks", t);
  }
  Config by_name = Config::table();
  for (auto& [name, r] : results) by_name.set(name, r);
  out.set("results", by_name);
  const fs::path file = fs::path(hf::hf_dir(run_dir)) / "results.json";
  io::write_file_atomically(file, out.to_json(true) + "\n");
  std::cout << "\nwrote " << file.string() << "\n";
  if (!samples_text.empty()) {
    const fs::path sfile = fs::path(run_dir) / "samples.jsonl";
    io::write_file_atomically(sfile, samples_text);
    std::cout << "wrote " << sfile.string() << "\n";
  } else {
    std::error_code ignored;  // no stale samples from an earlier evaluation
    fs::remove(fs::path(run_dir) / "samples.jsonl", ignored);
  }
  return 0;
}

}  // namespace kiln::cli
