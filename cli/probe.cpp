// kiln probe RUN PROBE [options]: looks inside a run's model. PROBE is a probe component's name
// (logit_lens, attention_patterns, activation_patching, ablation, linear_probe) whose parameters
// come from --set key=value and the shortcuts --prompt / --target, or a Lua probe spec
// (probes/*.lua) returning one probe or a list. Each probe writes its figures (SVG) and its
// numbers (NAME.json) into RUN/probes/NAME (or --out DIR).
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "core/eval/probe.h"
#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "core/train/run.h"
#include "dsl/hf_checkpoint.h"
#include "dsl/suite.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

// A value of --set for a parameter of this type: a number, a boolean or a string.
Config parse_value(const std::string& text, const Param* p, const std::string& key) {
  using K = ParamType::Kind;
  const K kind = p ? p->type.kind : K::string;
  try {
    if (kind == K::integer) return Config(int64_t(std::stoll(text)));
    if (kind == K::number) return Config(std::stod(text));
  } catch (const std::exception&) {
    KILN_FAIL("--set ", key, "=", text, ": expected a number");
  }
  if (kind == K::boolean) {
    KILN_CHECK(text == "true" || text == "false", "--set ", key, "=", text,
               ": expected true or false");
    return Config(text == "true");
  }
  return Config(text);
}

// The probe component named `name` with parameters key=value.
Config probe_config(const std::string& name,
                    const std::vector<std::pair<std::string, std::string>>& sets) {
  load_default_plugins();
  const ComponentInfo* info = Registry::global().find("probe", name);
  if (!info) {
    std::vector<std::string> names;
    for (const ComponentInfo* c : Registry::global().all())
      if (c->kind == "probe") names.push_back(c->name);
    const std::string best = did_you_mean(name, names);
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    KILN_FAIL("no probe named \"", name, "\"",
              best.empty() ? "" : " (did you mean \"" + best + "\"?)", "; the probes are: ", list,
              ", or give a probe spec (probes/*.lua)");
  }
  Config c = Config::table();
  c.set_component("probe", name);
  for (const auto& [key, value] : sets) c.set(key, parse_value(value, info->schema.find(key), key));
  c.set_path("probe");
  std::vector<std::string> errors = Registry::global().validate(c);
  if (!errors.empty()) {
    std::string msg;
    for (const std::string& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    throw Error(msg);
  }
  return c;
}

}  // namespace

int run_probe(const std::vector<std::string>& args) {
  po::options_description opts("probe options");
  opts.add_options()("run", po::value<std::string>(), "the run directory (kiln train --out)")(
      "probe", po::value<std::string>(), "a probe's name, or a probe spec (probes/*.lua)")(
      "prompt", po::value<std::string>(), "shortcut for --set prompt=TEXT")(
      "target", po::value<std::string>(), "shortcut for --set target=TEXT (logit_lens)")(
      "set", po::value<std::vector<std::string>>(),
      "key=value: a parameter of the named probe, or path=value overriding a probe spec")(
      "out", po::value<std::string>(), "where to write (default RUN/probes/NAME)")(
      "step", po::value<int64_t>()->default_value(-1),
      "the checkpoint's step (default: the latest)");
  po::positional_options_description pos;
  pos.add("run", 1).add("probe", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm,
            "kiln probe RUN_DIR PROBE [--prompt TEXT] [--set key=value ...] [--out DIR]",
            "kiln probe runs/a logit_lens --prompt \"ROMEO:\" --target \" \"\n"
            "  kiln probe runs/a probes/induction.lua"))
    return 0;
  if (!vm.count("run") || !vm.count("probe"))
    throw po::error("expected a run directory and a probe");
  const std::string run_dir = vm["run"].as<std::string>(), probe = vm["probe"].as<std::string>();
  std::error_code ec;
  KILN_CHECK(fs::is_directory(hf::hf_dir(run_dir), ec), hf::hf_dir(run_dir),
             ": no such run directory");
  std::vector<std::string> sets =
      vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};

  // The probes first: a mistake shows before a model is loaded.
  std::vector<Config> configs;
  const bool is_spec = probe.size() > 4 && probe.compare(probe.size() - 4, 4, ".lua") == 0;
  if (is_spec) {
    KILN_CHECK(!vm.count("prompt") && !vm.count("target"),
               "--prompt and --target apply to a probe given by ",
               "name; a probe spec sets them itself (or use --set PATH=VALUE)");
    dsl::SpecOptions so;
    so.overrides = sets;
    configs = dsl::load_probes(probe, so);
  } else {
    std::vector<std::pair<std::string, std::string>> kv;
    for (const std::string& s : sets) {
      const size_t eq = s.find('=');
      KILN_CHECK(eq != std::string::npos && eq > 0, "--set ", s, ": expected key=value");
      kv.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    if (vm.count("prompt")) kv.emplace_back("prompt", vm["prompt"].as<std::string>());
    if (vm.count("target")) kv.emplace_back("target", vm["target"].as<std::string>());
    configs.push_back(probe_config(probe, kv));
  }
  std::vector<std::shared_ptr<eval::Probe>> probes;
  for (const Config& c : configs) probes.push_back(Registry::global().create<eval::Probe>(c));

  train::LoadRunOptions lo;
  lo.step = vm["step"].as<int64_t>();
  train::LoadedRun run = hf::load_run_or_hf(run_dir, lo);
  run.model->eval();
  for (const auto& p : probes) {
    const fs::path out = vm.count("out") ? fs::path(vm["out"].as<std::string>())
                                         : fs::path(hf::hf_dir(run_dir)) / "probes" / p->name();
    fs::create_directories(out, ec);
    KILN_CHECK(!ec, "cannot create ", out.string(), ": ", ec.message());
    eval::ProbeContext ctx;
    ctx.model = run.model.get();
    ctx.tokenizer = run.tokenizer;
    ctx.run_dir = hf::hf_dir(run_dir);
    ctx.out_dir = out.string();
    Config result = p->run(ctx);
    Config doc = Config::table();
    doc.set("run", run_dir);
    doc.set("checkpoint", run.checkpoint);
    doc.set("probe", p->name());
    doc.set("result", result);
    const fs::path file = out / (p->name() + ".json");
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    KILN_CHECK(f, file.string(), ": cannot write");
    f << doc.to_json(true) << "\n";
    f.close();
    KILN_CHECK(f, file.string(), ": write failed");
    std::cout << p->name() << ": wrote " << file.string();
    for (const auto& e : fs::directory_iterator(out))
      if (e.path().extension() == ".svg") std::cout << ", " << e.path().filename().string();
    std::cout << "\n";
  }
  return 0;
}

}  // namespace kiln::cli
