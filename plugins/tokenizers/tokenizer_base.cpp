#include "plugins/tokenizers/tokenizer_base.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace kiln::tokenizers {

TokenizerBase::TokenizerBase(std::string name, std::vector<std::string> special_texts,
                             std::optional<std::string> eos)
    : name_(std::move(name)), special_texts_(std::move(special_texts)), eos_name_(std::move(eos)) {
  // Check the list now, so that a bad spec fails when it is built, not at the first encode.
  SpecialTokens check;
  for (size_t i = 0; i < special_texts_.size(); ++i) {
    try {
      check.add(special_texts_[i], int32_t(i));
    } catch (const Error& e) {
      KILN_FAIL(who(), e.what());
    }
  }
  pick_eos(check, eos_name_, name_);
}

void TokenizerBase::set_specials(const std::vector<std::pair<std::string, int32_t>>& tokens) {
  specials_ = SpecialTokens();
  special_flag_.clear();
  for (const auto& [text, id] : tokens) {
    KILN_CHECK(id >= 0, who(), "special token \"", text, "\" has a negative id ", id);
    specials_.add(text, id);
    if (size_t(id) >= special_flag_.size()) special_flag_.resize(size_t(id) + 1, 0);
    special_flag_[size_t(id)] = 1;
  }
  eos_ = pick_eos(specials_, eos_name_, name_);
}

std::vector<std::pair<std::string, int32_t>> TokenizerBase::number_specials(
    int32_t first_id) const {
  std::vector<std::pair<std::string, int32_t>> out;
  for (size_t i = 0; i < special_texts_.size(); ++i)
    out.emplace_back(special_texts_[i], first_id + int32_t(i));
  return out;
}

std::vector<int32_t> TokenizerBase::encode(std::string_view text, bool parse_special) const {
  ensure_ready();
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 16);
  if (!parse_special || specials_.empty()) {
    encode_ordinary(text, out);
    return out;
  }
  specials_.split(
      text, [&](std::string_view part) { encode_ordinary(part, out); },
      [&](int32_t id) { out.push_back(id); });
  return out;
}

std::string TokenizerBase::decode(const std::vector<int32_t>& ids) const {
  ensure_ready();
  std::string out;
  out.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    if (is_special(id))
      out += *specials_.text_of(id);
    else
      append_ordinary(id, out);
  }
  return out;
}

std::string TokenizerBase::token_bytes(int32_t id) const {
  ensure_ready();
  if (is_special(id)) return *specials_.text_of(id);
  std::string out;
  append_ordinary(id, out);
  return out;
}

std::map<std::string, int32_t> TokenizerBase::special_tokens() const {
  ensure_ready();
  return specials_.map();
}

std::optional<int32_t> TokenizerBase::eos_id() const {
  ensure_ready();
  return eos_;
}

Config TokenizerBase::saved_header() const {
  Config c = Config::table();
  c.set("type", name_);
  std::vector<std::pair<int32_t, std::string>> by_id;
  for (const auto& [text, id] : specials_.map()) by_id.emplace_back(id, text);
  std::sort(by_id.begin(), by_id.end());
  // {text, id} pairs: a special token is any string, so it is a value rather than a key.
  Config specials = Config::list();
  for (const auto& [id, text] : by_id)
    specials.push_back(Config::list({Config(text), Config(int64_t(id))}));
  c.set("special_tokens", specials);
  c.set("eos", eos_ ? Config(*specials_.text_of(*eos_)) : Config());
  return c;
}

void TokenizerBase::write_saved(const std::string& dir, const Config& config) const {
  write_file(join_path(dir, kTokenizerFile), config.to_json(true) + "\n", name_ + " tokenizer");
}

TokenizerBase::SavedHeader TokenizerBase::read_saved(const std::string& dir) const {
  const std::string path = join_path(dir, kTokenizerFile);
  SavedHeader h{Config::from_json(read_file(path, name_ + " tokenizer"), path), {}, std::nullopt};
  const Config& c = h.config;
  const std::string type = c.get<std::string>("type");
  if (type != name_)
    c.at("type").fail("the saved tokenizer is a " + type + " tokenizer, not the " + name_ +
                      " tokenizer the spec asks for");
  const Config& list = c.at("special_tokens");
  if (!list.is_list()) list.fail("expected a list of {text, id} pairs");
  for (const Config& t : list.items()) {
    if (!t.is_list() || t.size() != 2) t.fail("expected a pair {text, id}");
    h.specials.emplace_back(t[0].as_string(), int32_t(t[1].as_int()));
  }
  const Config* eos = c.find("eos");
  if (eos && !eos->is_null()) h.eos = eos->as_string();
  try {
    SpecialTokens check;
    for (const auto& [text, id] : h.specials) check.add(text, id);
    pick_eos(check, h.eos, name_);
  } catch (const Error& e) {
    list.fail(e.what());
  }
  return h;
}

void TokenizerBase::restore_specials(const SavedHeader& h) {
  special_texts_.clear();
  for (const auto& t : h.specials) special_texts_.push_back(t.first);
  eos_name_ = h.eos;
  set_specials(h.specials);
}

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) KILN_FAIL(what, ": cannot read ", path, ": ", std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  KILN_CHECK(!f.bad(), what, ": error reading ", path);
  return ss.str();
}

void write_file(const std::string& path, std::string_view content, const std::string& what) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) KILN_FAIL(what, ": cannot write ", tmp, ": ", std::strerror(errno));
    f.write(content.data(), std::streamsize(content.size()));
    f.flush();
    if (!f) KILN_FAIL(what, ": error writing ", tmp, ": ", std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) KILN_FAIL(what, ": cannot rename ", tmp, " to ", path, ": ", ec.message());
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace kiln::tokenizers
