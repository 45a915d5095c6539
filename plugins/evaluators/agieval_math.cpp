// AGIEval's math answer parsing and normalisation, ported from lm-evaluation-harness's
// lm_eval/tasks/agieval/utils.py (itself from ruixiangcui/AGIEval src/post_process.py and
// hendrycks/math modeling/math_equivalence.py). Python's exceptions inside _strip_string make
// is_equiv fall back to comparing the parsed strings; StripError plays that part here.
#include <regex>

#include "plugins/evaluators/agieval.h"

namespace kiln::evaluators {
namespace {

struct StripError {};

// Python's str.split(sep): every part, empty ones included.
std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t from = 0;
  for (size_t p = s.find(sep); p != std::string::npos; p = s.find(sep, from)) {
    out.push_back(s.substr(from, p - from));
    from = p + sep.size();
  }
  out.push_back(s.substr(from));
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  std::string out;
  size_t at = 0;
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, at)) {
    out += s.substr(at, p - at) + to;
    at = p + from.size();
  }
  return out + s.substr(at);
}

std::string lstrip_spaces(const std::string& s) {
  size_t a = s.find_first_not_of(' ');
  return a == std::string::npos ? std::string() : s.substr(a);
}

std::optional<std::string> last_boxed_only_string(const std::string& s) {
  size_t idx = s.rfind("\\boxed");
  if (idx == std::string::npos) idx = s.rfind("\\fbox");
  if (idx == std::string::npos) return std::nullopt;
  int open = 0;
  for (size_t i = idx; i < s.size(); ++i) {
    if (s[i] == '{') ++open;
    if (s[i] == '}' && --open == 0) return s.substr(idx, i - idx + 1);
  }
  return std::nullopt;
}

std::optional<std::string> remove_boxed(const std::optional<std::string>& s) {
  static const std::string left = "\\boxed{";
  if (!s || s->rfind(left, 0) != 0 || s->back() != '}' || s->size() < left.size() + 1)
    return std::nullopt;
  std::string answer = s->substr(left.size(), s->size() - left.size() - 1);
  if (answer.find('=') != std::string::npos) answer = lstrip_spaces(split(answer, "=").back());
  return answer;
}

std::optional<std::string> answer_with_dollar_sign(const std::string& s) {
  // re.findall(r"\$(.*)\$", s): per line, from its first "$" to its last (`.` stops at "\n").
  std::optional<std::string> last;
  for (const std::string& line : split(s, "\n")) {
    const size_t a = line.find('$'), b = line.rfind('$');
    if (a != std::string::npos && b > a) last = line.substr(a + 1, b - a - 1);
  }
  if (last && last->find('=') != std::string::npos) last = lstrip_spaces(split(*last, "=").back());
  return last;
}

std::optional<std::string> answer_without_dollar_sign(const std::string& s) {
  if (s.find('=') != std::string::npos) {
    std::string last = lstrip_spaces(split(s, "=").back());
    while (!last.empty() && last.back() == '.') last.pop_back();
    // The harness looks for a literal backslash-n here.
    if (last.find("\\n") != std::string::npos) last = split(last, "\\n").front();
    return last;
  }
  // r"(?:\$)?\d+(?:\.\d+)?(?![\w\d])" (\w ASCII here; Python's is Unicode-aware).
  static const std::regex number(R"(\$?\d+(?:\.\d+)?(?![\w]))");
  std::optional<std::string> last;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), number); it != std::sregex_iterator();
       ++it)
    last = it->str();
  return last;
}

std::string fix_fracs(const std::string& string) {
  std::vector<std::string> substrs = split(string, "\\frac");
  std::string out = substrs[0];
  for (size_t i = 1; i < substrs.size(); ++i) {
    const std::string& sub = substrs[i];
    out += "\\frac";
    if (sub.empty()) throw StripError{};  // substr[0] on "" raises
    if (sub[0] == '{') {
      out += sub;
      continue;
    }
    if (sub.size() < 2) return string;
    const char a = sub[0], b = sub[1];
    if (b != '{')
      out += std::string("{") + a + "}{" + b + "}" + sub.substr(2);
    else
      out += std::string("{") + a + "}" + b + sub.substr(2);
  }
  return out;
}

bool canonical_int(const std::string& s) {
  // str(int(s)) == s: an optional "-", then "0" or digits without a leading zero; not "-0".
  size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return false;
  if (s[i] == '0') return s.size() == i + 1 && i == 0;
  return true;
}

std::string fix_a_slash_b(const std::string& s) {
  std::vector<std::string> parts = split(s, "/");
  if (parts.size() != 2 || !canonical_int(parts[0]) || !canonical_int(parts[1])) return s;
  return "\\frac{" + parts[0] + "}{" + parts[1] + "}";
}

std::string fix_sqrt(const std::string& s) {
  if (s.find("\\sqrt") == std::string::npos) return s;
  std::vector<std::string> parts = split(s, "\\sqrt");
  std::string out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) throw StripError{};
    if (parts[i][0] != '{')
      out += "\\sqrt{" + parts[i].substr(0, 1) + "}" + parts[i].substr(1);
    else
      out += "\\sqrt" + parts[i];
  }
  return out;
}

}  // namespace

std::optional<std::string> agieval_parse_math_answer(const std::string& raw) {
  if (raw.find("\\boxed") != std::string::npos) return remove_boxed(last_boxed_only_string(raw));
  std::optional<std::string> answer = answer_with_dollar_sign(raw);
  if (!answer || answer->empty()) answer = answer_without_dollar_sign(raw);
  return answer;
}

std::string agieval_strip_math(std::string s) {
  s = replace_all(s, "\n", "");
  s = replace_all(s, "\\!", "");
  s = replace_all(s, "\\\\", "\\");
  s = replace_all(s, "tfrac", "frac");
  s = replace_all(s, "dfrac", "frac");
  s = replace_all(s, "\\left", "");
  s = replace_all(s, "\\right", "");
  s = replace_all(s, "^{\\circ}", "");
  s = replace_all(s, "^\\circ", "");
  s = replace_all(s, "\\$", "");
  if (s.find("\\text{ ") != std::string::npos) {  // _remove_right_units
    std::vector<std::string> parts = split(s, "\\text{ ");
    if (parts.size() != 2) throw StripError{};
    s = parts[0];
  }
  s = replace_all(s, "\\%", "");
  s = replace_all(s, " .", " 0.");
  s = replace_all(s, "{.", "{0.");
  if (s.empty()) return s;
  if (s[0] == '.') s = "0" + s;
  std::vector<std::string> eq = split(s, "=");
  if (eq.size() == 2 && eq[0].size() <= 2) s = eq[1];
  s = fix_sqrt(s);
  s = replace_all(s, " ", "");
  s = fix_fracs(s);
  if (s == "0.5") s = "\\frac{1}{2}";
  return fix_a_slash_b(s);
}

bool agieval_math_correct(const std::string& generation, const std::string& gold) {
  // process_results parses both, then is_equiv parses them again.
  std::optional<std::string> a = agieval_parse_math_answer(generation);
  std::optional<std::string> g = agieval_parse_math_answer(gold);
  if (!a && !g) return true;
  if (!a || !g) return false;
  a = agieval_parse_math_answer(*a);
  g = agieval_parse_math_answer(*g);
  if (!a || !g) return a == g;  // _strip_string(None) raises: compare the parsed values
  try {
    return agieval_strip_math(*a) == agieval_strip_math(*g);
  } catch (const StripError&) {
    return *a == *g;
  }
}

}  // namespace kiln::evaluators
