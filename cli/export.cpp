// kiln export RUN --hf DIR [--step N] [--dtype f32|bf16|f16]: writes a run's decoder model (or
// another Hugging Face checkpoint, hf:DIR) in Hugging Face's layout: config.json,
// model.safetensors and, for byte-level BPE tokenizers, vocab.json + merges.txt (see
// dsl/hf_checkpoint.h for the mapping).
#include <iostream>

#include "cli/command.h"
#include "dsl/hf_checkpoint.h"

namespace kiln::cli {

int run_export(const std::vector<std::string>& args) {
  po::options_description opts("export options");
  opts.add_options()("run", po::value<std::string>(),
                     "the run directory kiln train wrote, or hf:DIR")(
      "hf", po::value<std::string>(),
      "write a Hugging Face checkpoint (GPT-2 or LLaMA layout) here")(
      "step", po::value<int64_t>()->default_value(-1),
      "the checkpoint's step (default: the latest)")("dtype",
                                                     po::value<std::string>()->default_value("f32"),
                                                     "dtype of the weights: f32, bf16 or f16");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm, "kiln export RUN_DIR|hf:DIR --hf OUT_DIR [--step N] [--dtype D]",
            "kiln export runs/a --hf runs/a-hf   # then transformers' "
            "from_pretrained(\"runs/a-hf\")"))
    return 0;
  if (!vm.count("run")) throw po::error("expected a run directory");
  if (!vm.count("hf")) throw po::error("expected --hf OUT_DIR (the only export format so far)");
  const std::string dtype_s = vm["dtype"].as<std::string>();
  KILN_CHECK(dtype_s == "f32" || dtype_s == "bf16" || dtype_s == "f16",
             "--dtype must be f32, bf16 or f16, got \"", dtype_s, "\"");
  train::LoadRunOptions lo;
  lo.step = vm["step"].as<int64_t>();
  train::LoadedRun run = hf::load_run_or_hf(vm["run"].as<std::string>(), lo);
  hf::SaveOptions so;
  so.dtype = dtype_from_name(dtype_s);
  const std::string out = vm["hf"].as<std::string>();
  std::vector<std::string> tok =
      hf::save(out, run.spec.at("model"), *run.model, run.tokenizer.get(), so);
  std::cout << "wrote " << out << "/config.json, " << out << "/model.safetensors";
  for (const std::string& f : tok) std::cout << ", " << out << "/" << f;
  std::cout << "\n";
  if (tok.empty())
    std::cout << "(the run's tokenizer is not a byte-level BPE: no tokenizer files written)\n";
  return 0;
}

}  // namespace kiln::cli
