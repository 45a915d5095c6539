#include "core/eval/request_cache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/base/error.h"
#include "core/io/sha256.h"

namespace kiln::eval {
namespace {

std::string hex_bytes(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) out += hex[c >> 4], out += hex[c & 15];
  return out;
}

std::optional<std::string> unhex(const std::string& s) {
  if (s.size() % 2) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int a = val(s[i]), b = val(s[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out += char(a * 16 + b);
  }
  return out;
}

std::string hex_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

// "L key greedy n lp..." -> a result; nullopt for a malformed (torn) line.
bool parse_loglikelihood(std::istringstream& in, LoglikelihoodResult& r) {
  int greedy = 0;
  size_t n = 0;
  std::string lp;
  if (!(in >> lp >> greedy >> n)) return false;
  r.logprob = std::strtod(lp.c_str(), nullptr);
  r.greedy = greedy != 0;
  r.token_logprobs.resize(n);
  for (double& v : r.token_logprobs) {
    std::string w;
    if (!(in >> w)) return false;
    char* end = nullptr;
    v = std::strtod(w.c_str(), &end);
    if (end == w.c_str()) return false;
  }
  std::string end;
  return (in >> end) && end == "$";
}

// "G key finish dropped n tok... texthex"
bool parse_generation(std::istringstream& in, GenerateUntilResult& r) {
  size_t n = 0;
  if (!(in >> r.finish >> r.context_dropped >> n)) return false;
  r.tokens.resize(n);
  for (int32_t& t : r.tokens)
    if (!(in >> t)) return false;
  std::string text, end;
  if (!(in >> text >> end) || end != "$") return false;
  std::optional<std::string> t = unhex(text == "-" ? "" : text);
  if (!t) return false;
  r.text = *t;
  return true;
}

}  // namespace

std::string model_fingerprint(const nn::Model& model, const data::Tokenizer* tokenizer) {
  std::string all;
  for (const auto& [name, t] : model.state_dict()) {
    Tensor c = t.to(Device::cpu()).contiguous();
    all += name;
    all += ' ';
    all += dtype_name(c.dtype());
    for (int64_t d : c.shape()) all += ' ' + std::to_string(d);
    all += ' ';
    all += io::sha256_hex(
        std::string_view(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * c.itemsize()));
    all += '\n';
  }
  if (tokenizer) {
    std::string tokens;
    for (int32_t i = 0; i < int32_t(tokenizer->vocab_size()); ++i) {
      tokens += tokenizer->token_bytes(i);
      tokens += '\0';
    }
    all += "tokenizer " + io::sha256_hex(tokens);
    if (std::optional<int32_t> eos = tokenizer->eos_id()) all += " eos " + std::to_string(*eos);
  }
  return io::sha256_hex(all);
}

RequestCache::RequestCache(std::string path, std::string model_key)
    : path_(std::move(path)), model_key_(std::move(model_key)) {
  namespace fs = std::filesystem;
  const fs::path p(path_);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ifstream in(path_, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind, key;
    if (!(ls >> kind >> key) || key.size() != 64) continue;
    if (kind == "L") {
      LoglikelihoodResult r;
      if (parse_loglikelihood(ls, r)) ll_[key] = std::move(r), ++loaded_;
    } else if (kind == "G") {
      GenerateUntilResult r;
      if (parse_generation(ls, r)) gen_[key] = std::move(r), ++loaded_;
    }
  }
  // A torn last line (no newline) must not swallow the first line appended after it.
  in.close();
  std::ifstream last(path_, std::ios::binary | std::ios::ate);
  if (last && last.tellg() > 0) {
    last.seekg(-1, std::ios::end);
    char c = 0;
    last.get(c);
    if (c != '\n') pending_ = "\n";
  }
  std::ofstream touch(path_, std::ios::binary | std::ios::app);
  KILN_CHECK(touch, "request cache: cannot write ", path_);
}

std::string RequestCache::key(const std::string& kind, const std::vector<int64_t>& fields,
                              const std::vector<std::string>& strings) const {
  std::string s = model_key_ + '\n' + kind + '\n';
  for (int64_t f : fields) s += std::to_string(f) + ' ';
  for (const std::string& str : strings) s += '\n' + std::to_string(str.size()) + ':' + str;
  return io::sha256_hex(s);
}

const LoglikelihoodResult* RequestCache::find_loglikelihood(const std::string& key) const {
  auto it = ll_.find(key);
  if (it == ll_.end()) return nullptr;
  ++hits_;
  return &it->second;
}

const GenerateUntilResult* RequestCache::find_generation(const std::string& key) const {
  auto it = gen_.find(key);
  if (it == gen_.end()) return nullptr;
  ++hits_;
  return &it->second;
}

void RequestCache::put(const std::string& key, const LoglikelihoodResult& r) {
  std::string line = "L " + key + ' ' + hex_double(r.logprob) + ' ' + (r.greedy ? "1" : "0") + ' ' +
                     std::to_string(r.token_logprobs.size());
  for (double v : r.token_logprobs) line += ' ' + hex_double(v);
  pending_ += line + " $\n";
  ll_[key] = r;
}

void RequestCache::put(const std::string& key, const GenerateUntilResult& r) {
  std::string line = "G " + key + ' ' + r.finish + ' ' + std::to_string(r.context_dropped) + ' ' +
                     std::to_string(r.tokens.size());
  for (int32_t t : r.tokens) line += ' ' + std::to_string(t);
  line += ' ' + (r.text.empty() ? std::string("-") : hex_bytes(r.text));
  pending_ += line + " $\n";
  gen_[key] = r;
}

void RequestCache::flush() {
  if (pending_.empty() || pending_ == "\n") return;
  std::ofstream out(path_, std::ios::binary | std::ios::app);
  out << pending_;
  out.flush();
  KILN_CHECK(out, "request cache: cannot write ", path_);
  pending_.clear();
}

}  // namespace kiln::eval
