#include "core/registry/config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace kiln {

std::string SourceLoc::str() const {
  if (file.empty()) return "";
  if (!pointer.empty()) return file + "#" + pointer;
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

Config Config::list(std::vector<Config> items) {
  Config c;
  c.value_ = std::move(items);
  return c;
}

Config Config::table() {
  Config c;
  c.value_ = Table{};
  return c;
}

std::string Config::type_name() const {
  if (is_component()) return component_kind_ + "." + component_name_;
  switch (type()) {
    case Type::null: return "null";
    case Type::boolean: return "bool";
    case Type::integer: return "integer";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::list: return "list";
    case Type::table: return "table";
  }
  return "?";
}

void Config::set_path(const std::string& path) {
  path_ = path;
  if (auto* l = std::get_if<List>(&value_))
    for (size_t i = 0; i < l->size(); ++i) (*l)[i].set_path(path + "[" + std::to_string(i + 1) + "]");
  if (auto* t = std::get_if<Table>(&value_))
    for (auto& [k, v] : *t) v.set_path(path.empty() ? k : path + "." + k);
}

std::string Config::where() const {
  std::string s;
  if (loc_.known()) s += loc_.str() + ": ";
  if (!path_.empty()) s += path_ + ": ";
  return s;
}

void Config::fail(const std::string& message) const { throw Error(where() + message); }

void Config::set_component(std::string kind, std::string name) {
  component_kind_ = std::move(kind);
  component_name_ = std::move(name);
}

namespace {

std::string short_value(const Config& c) {
  switch (c.type()) {
    case Config::Type::string: return "\"" + c.as_string() + "\"";
    case Config::Type::integer: return std::to_string(c.as_int());
    case Config::Type::number: {
      std::ostringstream os;
      os << c.as_number();
      return os.str();
    }
    case Config::Type::boolean: return c.as_bool() ? "true" : "false";
    default: return c.type_name();
  }
}

}  // namespace

bool Config::as_bool() const {
  if (auto* b = std::get_if<bool>(&value_)) return *b;
  fail("expected bool, got " + short_value(*this));
}

int64_t Config::as_int() const {
  if (auto* i = std::get_if<int64_t>(&value_)) return *i;
  if (auto* d = std::get_if<double>(&value_); d && std::isfinite(*d) && *d == std::floor(*d) && std::fabs(*d) < 9e15)
    return int64_t(*d);
  fail("expected integer, got " + short_value(*this));
}

double Config::as_number() const {
  if (auto* d = std::get_if<double>(&value_)) return *d;
  if (auto* i = std::get_if<int64_t>(&value_)) return double(*i);
  fail("expected number, got " + short_value(*this));
}

const std::string& Config::as_string() const {
  if (auto* s = std::get_if<std::string>(&value_)) return *s;
  fail("expected string, got " + short_value(*this));
}

size_t Config::size() const {
  if (auto* l = std::get_if<List>(&value_)) return l->size();
  if (auto* t = std::get_if<Table>(&value_)) return t->size();
  return 0;
}

const std::vector<Config>& Config::items() const {
  if (auto* l = std::get_if<List>(&value_)) return *l;
  if (auto* t = std::get_if<Table>(&value_); t && t->empty()) {
    static const List empty;
    return empty;  // {} in Lua is both an empty table and an empty list
  }
  fail("expected list, got " + type_name());
}

const Config& Config::operator[](size_t i) const {
  const List& l = items();
  if (i >= l.size()) fail("index " + std::to_string(i + 1) + " is out of range (list of " + std::to_string(l.size()) + ")");
  return l[i];
}

Config& Config::operator[](size_t i) { return const_cast<Config&>(std::as_const(*this)[i]); }

void Config::push_back(Config item) {
  if (is_null() || (is_table() && size() == 0)) value_ = List{};
  auto* l = std::get_if<List>(&value_);
  if (!l) fail("push_back: not a list");
  l->push_back(std::move(item));
}

bool Config::has(const std::string& key) const {
  if (auto* t = std::get_if<Table>(&value_))
    for (const auto& [k, v] : *t)
      if (k == key) return true;
  return false;
}

void Config::mark_read(const std::string& key) const {
  if (!read_) read_ = std::make_shared<std::set<std::string>>();
  read_->insert(key);
}

const Config* Config::find(const std::string& key) const {
  if (is_null()) return nullptr;
  auto* t = std::get_if<Table>(&value_);
  if (!t) fail("expected table, got " + type_name());
  mark_read(key);
  for (const auto& [k, v] : *t)
    if (k == key) return &v;
  return nullptr;
}

const Config& Config::at(const std::string& key) const {
  const Config* c = find(key);
  if (!c) fail("missing required key \"" + key + "\"");
  return *c;
}

Config& Config::at(const std::string& key) { return const_cast<Config&>(std::as_const(*this).at(key)); }

Config& Config::set(const std::string& key, Config value) {
  if (is_null() || (is_list() && size() == 0)) value_ = Table{};
  auto* t = std::get_if<Table>(&value_);
  if (!t) fail("cannot set key \"" + key + "\" on a " + type_name());
  value.set_path(path_.empty() ? key : path_ + "." + key);
  for (auto& [k, v] : *t)
    if (k == key) return v = std::move(value);
  t->emplace_back(key, std::move(value));
  return t->back().second;
}

void Config::erase(const std::string& key) {
  if (auto* t = std::get_if<Table>(&value_))
    t->erase(std::remove_if(t->begin(), t->end(), [&](const auto& e) { return e.first == key; }), t->end());
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  if (auto* t = std::get_if<Table>(&value_))
    for (const auto& [k, v] : *t) out.push_back(k);
  return out;
}

const std::vector<std::pair<std::string, Config>>& Config::entries() const {
  if (auto* t = std::get_if<Table>(&value_)) return *t;
  static const Table empty;
  if (is_null() || (is_list() && size() == 0)) return empty;
  fail("expected table, got " + type_name());
}

std::vector<std::string> Config::unread_keys() const {
  std::vector<std::string> out;
  for (const std::string& k : keys())
    if (!read_ || !read_->count(k)) out.push_back(k);
  return out;
}

void Config::mark_all_read() const {
  for (const std::string& k : keys()) mark_read(k);
}

void Config::check_all_read() const {
  std::vector<std::string> unread = unread_keys();
  if (unread.empty()) return;
  std::vector<std::string> known;
  for (const std::string& k : keys())
    if (read_ && read_->count(k)) known.push_back(k);
  std::string msg;
  for (const std::string& k : unread) {
    const Config* c = nullptr;
    for (const auto& [kk, v] : entries())
      if (kk == k) c = &v;
    if (!msg.empty()) msg += "\n";
    msg += (c ? c->where() : where()) + "unknown key \"" + k + "\"";
    std::string s = did_you_mean(k, known);
    if (!s.empty()) msg += " (did you mean \"" + s + "\"?)";
  }
  throw Error(msg);
}

// ---- JSON ---------------------------------------------------------------------------------------

namespace {

template <class Writer>
void write_json(Writer& w, const Config& c) {
  switch (c.type()) {
    case Config::Type::null: w.Null(); break;
    case Config::Type::boolean: w.Bool(c.as_bool()); break;
    case Config::Type::integer: w.Int64(c.as_int()); break;
    case Config::Type::number: {
      double d = c.as_number();
      // JSON has no inf/nan: write them as strings that from_json reads back.
      if (std::isnan(d)) w.String("nan");
      else if (std::isinf(d)) w.String(d > 0 ? "inf" : "-inf");
      else w.Double(d);
      break;
    }
    case Config::Type::string: w.String(c.as_string().c_str(), rapidjson::SizeType(c.as_string().size())); break;
    case Config::Type::list:
      w.StartArray();
      for (const Config& i : c.items()) write_json(w, i);
      w.EndArray();
      break;
    case Config::Type::table:
      w.StartObject();
      if (c.is_component()) {
        w.Key("@component");
        std::string tag = c.component_kind() + "." + c.component_name();
        w.String(tag.c_str());
      }
      for (const auto& [k, v] : c.entries()) {
        w.Key(k.c_str(), rapidjson::SizeType(k.size()));
        write_json(w, v);
      }
      w.EndObject();
      break;
  }
}

std::string pointer_escape(const std::string& k) {
  std::string out;
  for (char ch : k) {
    if (ch == '~') out += "~0";
    else if (ch == '/') out += "~1";
    else out += ch;
  }
  return out;
}

Config from_value(const rapidjson::Value& v, const std::string& origin, const std::string& pointer) {
  Config c;
  if (v.IsNull()) c = Config();
  else if (v.IsBool()) c = Config(v.GetBool());
  else if (v.IsInt64()) c = Config(int64_t(v.GetInt64()));
  else if (v.IsNumber()) c = Config(v.GetDouble());
  else if (v.IsString()) c = Config(std::string(v.GetString(), v.GetStringLength()));
  else if (v.IsArray()) {
    c = Config::list();
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      c.push_back(from_value(v[i], origin, pointer + "/" + std::to_string(i)));
  } else {
    c = Config::table();
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (key == "@component") {
        std::string tag = it->value.IsString() ? it->value.GetString() : "";
        size_t dot = tag.find('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == tag.size())
          throw Error(origin + "#" + pointer + ": \"@component\" must be \"kind.name\", got \"" + tag + "\"");
        c.set_component(tag.substr(0, dot), tag.substr(dot + 1));
        continue;
      }
      c.set(key, from_value(it->value, origin, pointer + "/" + pointer_escape(key)));
    }
  }
  c.set_loc({origin, 0, pointer.empty() ? "/" : pointer});
  return c;
}

}  // namespace

std::string Config::to_json(bool pretty) const {
  rapidjson::StringBuffer buf;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    write_json(w, *this);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    write_json(w, *this);
  }
  return std::string(buf.GetString(), buf.GetSize());
}

Config Config::from_json(const std::string& text, const std::string& origin) {
  rapidjson::Document doc;
  // Full precision: a double written by to_json reads back to the same bits (checkpoint states).
  doc.Parse<rapidjson::kParseNanAndInfFlag | rapidjson::kParseFullPrecisionFlag>(text.c_str(),
                                                                                 text.size());
  if (doc.HasParseError()) {
    size_t off = doc.GetErrorOffset();
    int line = 1 + int(std::count(text.begin(), text.begin() + std::min(off, text.size()), '\n'));
    throw Error(origin + ":" + std::to_string(line) + ": invalid JSON: " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  Config c = from_value(doc, origin, "");
  c.set_path("");
  return c;
}

bool Config::operator==(const Config& o) const {
  if (component_kind_ != o.component_kind_ || component_name_ != o.component_name_) return false;
  if (type() != o.type()) {
    // An empty table and an empty list are the same value.
    return size() == 0 && o.size() == 0 && (is_table() || is_list()) && (o.is_table() || o.is_list());
  }
  return value_ == o.value_;
}

// ---- suggestions --------------------------------------------------------------------------------

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
// of neighbours ("moed" -> "mode" is one edit) each cost one.
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // Accept up to a third of the word's length in edits (at least 1, at most 3).
  size_t limit = std::clamp<size_t>(word.size() / 3, 1, 3);
  return best_d <= limit ? best : "";
}

}  // namespace kiln
