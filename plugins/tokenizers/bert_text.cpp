#include "plugins/tokenizers/bert_text.h"

#include <algorithm>

#include "plugins/tokenizers/unicode.h"

namespace kiln::tokenizers {
namespace {

struct CodeRange {
  char32_t first, last;
};
struct CodeMapping {
  char32_t cp;
  uint32_t offset, length;  // into the table's pool
};

#include "plugins/tokenizers/bert_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&ranges)[N], char32_t c) {
  const CodeRange* end = ranges + N;
  const CodeRange* it =
      std::upper_bound(ranges, end, c, [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != ranges && c <= (it - 1)->last;
}

template <size_t N>
const CodeMapping* find_mapping(const CodeMapping (&map)[N], char32_t c) {
  const CodeMapping* end = map + N;
  const CodeMapping* it =
      std::lower_bound(map, end, c, [](const CodeMapping& m, char32_t v) { return m.cp < v; });
  return it != end && it->cp == c ? it : nullptr;
}

bool is_mark(char32_t c) {
  return c >= 0x300 && in_ranges(kMark, c);
}
bool is_cased(char32_t c) {
  return in_ranges(kCased, c);
}
bool is_case_ignorable(char32_t c) {
  return in_ranges(kCaseIgnorable, c);
}

// Hangul syllables decompose by formula (Unicode §3.12) into a leading consonant, a vowel and
// an optional trailing consonant.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = 11172;

void append_nfd(char32_t c, std::u32string& out) {
  if (c < 0xC0) {
    out += c;
    return;
  }
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t s = c - kSBase;
    out += char32_t(kLBase + s / kNCount);
    out += char32_t(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out += char32_t(kTBase + s % kTCount);
    return;
  }
  if (const CodeMapping* m = find_mapping(kDecompose, c))
    out.append(kDecomposePool + m->offset, m->length);
  else
    out += c;
}

void split_words(const std::u32string& text, std::vector<std::u32string>& out) {
  std::u32string cur;
  for (char32_t c : text) {
    if (c == U' ' || bert_is_whitespace(c)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
}

std::string to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

}  // namespace

bool bert_is_punctuation(char32_t c) {
  return in_ranges(kPunctuation, c);
}
bool bert_is_control(char32_t c) {
  return in_ranges(kControl, c);
}
bool bert_is_whitespace(char32_t c) {
  return in_ranges(kWhitespace, c);
}
const char* bert_unicode_version() {
  return kBertUnicodeVersion;
}

bool bert_is_cjk(char32_t c) {
  // The CJK Unified Ideographs blocks, as BERT's _is_chinese_char lists them: not Hangul,
  // Hiragana or Katakana, which are written with spaces between words.
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u32string bert_lower(const std::u32string& word) {
  std::u32string out;
  out.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const char32_t c = word[i];
    if (c < 0x80) {
      out += (c >= U'A' && c <= U'Z') ? char32_t(c + 32) : c;
    } else if (c == 0x3A3) {
      // Final sigma (Unicode §3.13, as CPython applies it): ς after a cased letter and not
      // before one, case-ignorable characters skipped on both sides.
      size_t b = i;
      while (b > 0 && is_case_ignorable(word[b - 1])) --b;
      size_t a = i + 1;
      while (a < word.size() && is_case_ignorable(word[a])) ++a;
      const bool final = b > 0 && is_cased(word[b - 1]) && !(a < word.size() && is_cased(word[a]));
      out += final ? char32_t(0x3C2) : char32_t(0x3C3);
    } else if (const CodeMapping* m = find_mapping(kLower, c)) {
      out.append(kLowerPool + m->offset, m->length);
    } else {
      out += c;
    }
  }
  return out;
}

std::u32string bert_strip_accents(const std::u32string& word) {
  std::u32string nfd;
  nfd.reserve(word.size());
  for (char32_t c : word) append_nfd(c, nfd);
  std::u32string out;
  out.reserve(nfd.size());
  for (char32_t c : nfd)
    if (!is_mark(c)) out += c;
  return out;
}

std::vector<std::string> bert_basic_tokenize(std::string_view text,
                                             const BertTextOptions& options) {
  // 1 and 2: clean, and put spaces around CJK ideographs.
  std::u32string clean;
  clean.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Utf8Char ch = decode_utf8(text, i);
    i += ch.len;
    if (!ch.valid) continue;  // BERT decodes with errors="ignore"
    const char32_t c = ch.cp;
    if (c == 0 || c == 0xFFFD || bert_is_control(c)) continue;
    if (c == U'\t' || c == U'\n' || c == U'\r' || bert_is_whitespace(c)) {
      clean += U' ';
    } else if (options.split_cjk && c >= 0x3400 && bert_is_cjk(c)) {
      clean += U' ';
      clean += c;
      clean += U' ';
    } else {
      clean += c;
    }
  }
  // 3: words, each lowercased, stripped of accents and split at punctuation.
  std::vector<std::u32string> words;
  split_words(clean, words);
  std::vector<std::string> out;
  out.reserve(words.size() + words.size() / 4);
  for (std::u32string& w : words) {
    if (options.lowercase) w = bert_lower(w);
    if (options.strip_accents) w = bert_strip_accents(w);
    std::u32string cur;
    for (char32_t c : w) {
      if (bert_is_punctuation(c)) {
        if (!cur.empty()) out.push_back(to_utf8(cur));
        cur.clear();
        out.push_back(to_utf8(std::u32string(1, c)));
      } else if (c == U' ' || bert_is_whitespace(c)) {
        // Lowercasing or NFD cannot make a space, but a word rejoined and re-split by BERT's
        // final whitespace_tokenize would split here, so do the same.
        if (!cur.empty()) out.push_back(to_utf8(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(to_utf8(cur));
  }
  return out;
}

}  // namespace kiln::tokenizers
