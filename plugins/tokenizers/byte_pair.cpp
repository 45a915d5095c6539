#include "plugins/tokenizers/byte_pair.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <climits>
#include <cstring>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "core/base/error.h"
#include "core/base/threads.h"
#include "plugins/tokenizers/unicode.h"

namespace kiln::tokenizers {

// ---- GPT-2's byte alphabet --------------------------------------------------------------------

const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> map = [] {
    std::array<char32_t, 256> m{};
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) m[size_t(b)] = printable(b) ? char32_t(b) : next++;
    return m;
  }();
  return map;
}

std::string bytes_to_unicode_string(std::string_view bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(s, byte_to_unicode()[static_cast<unsigned char>(c)]);
  return s;
}

bool unicode_string_to_bytes(std::string_view s, std::string& out) {
  // The alphabet is U+0000..U+0143: a table of 0x144 entries inverts it.
  static const std::array<int16_t, 0x144> inverse = [] {
    std::array<int16_t, 0x144> inv{};
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[byte_to_unicode()[size_t(b)]] = int16_t(b);
    return inv;
  }();
  out.clear();
  for (size_t i = 0; i < s.size();) {
    const Utf8Char ch = decode_utf8(s, i);
    if (!ch.valid || ch.cp >= inverse.size() || inverse[ch.cp] < 0) return false;
    out += char(inverse[ch.cp]);
    i += ch.len;
  }
  return true;
}

// ---- the encoder --------------------------------------------------------------------------------

// Merged pieces by their text. Sharded so that threads encoding at once rarely wait on each
// other; a shard that grows past its bound is emptied (text in use keeps hitting the same
// pieces, which come back at once).
struct BytePairEncoder::Cache {
  static constexpr size_t kShards = 64, kMaxPerShard = size_t(1) << 13, kMaxPiece = 128;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> map;
  };
  std::array<Shard, kShards> shards;
};

BytePairEncoder::BytePairEncoder() : cache_(std::make_unique<Cache>()) {}
BytePairEncoder::~BytePairEncoder() = default;
BytePairEncoder::BytePairEncoder(BytePairEncoder&&) noexcept = default;
BytePairEncoder& BytePairEncoder::operator=(BytePairEncoder&&) noexcept = default;

void BytePairEncoder::build(std::vector<std::string> tokens, std::vector<Merge> merges,
                            const std::vector<int32_t>& special_ids, const std::string& who) {
  std::vector<char> special(tokens.size(), 0);
  for (int32_t id : special_ids)
    if (id >= 0 && size_t(id) < tokens.size()) special[size_t(id)] = 1;
  std::unordered_map<std::string_view, int32_t> by_bytes;
  by_bytes.reserve(tokens.size());
  std::array<int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (special[id]) continue;
    KILN_CHECK(!tokens[id].empty(), who, "token ", id, " is empty");
    auto [it, fresh] = by_bytes.emplace(tokens[id], int32_t(id));
    KILN_CHECK(fresh, who, "tokens ", it->second, " and ", id, " are the same bytes \"",
               bytes_to_unicode_string(tokens[id]), "\"");
    if (tokens[id].size() == 1) byte_ids[static_cast<unsigned char>(tokens[id][0])] = int32_t(id);
  }
  for (int b = 0; b < 256; ++b)
    KILN_CHECK(byte_ids[size_t(b)] >= 0, who, "byte ", b, " (\"",
               bytes_to_unicode_string(std::string(1, char(b))),
               "\") has no token: a byte-level vocabulary needs all 256");

  PairTable merge_map;
  merge_map.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto [l, rt] = merges[r];
    auto ordinary = [&](int32_t id) {
      return id >= 0 && size_t(id) < tokens.size() && !special[size_t(id)];
    };
    KILN_CHECK(ordinary(l) && ordinary(rt), who, "merge ", r, " (", l, ", ", rt,
               ") names an id that is not an ordinary token");
    const std::string merged = tokens[size_t(l)] + tokens[size_t(rt)];
    auto it = by_bytes.find(merged);
    KILN_CHECK(it != by_bytes.end(), who, "merge ", r, " (\"",
               bytes_to_unicode_string(tokens[size_t(l)]), "\" \"",
               bytes_to_unicode_string(tokens[size_t(rt)]), "\") makes \"",
               bytes_to_unicode_string(merged), "\", which is not in the vocabulary");
    const MergeInfo* dup = merge_map.insert(PairTable::key(l, rt), int32_t(r), it->second);
    KILN_CHECK(!dup, who, "merge ", r, " (\"", bytes_to_unicode_string(tokens[size_t(l)]), "\" \"",
               bytes_to_unicode_string(tokens[size_t(rt)]), "\") repeats merge ",
               dup ? dup->rank : 0);
  }
  tokens_ = std::move(tokens);
  merges_ = std::move(merges);
  byte_ids_ = byte_ids;
  merge_map_ = std::move(merge_map);
  cache_ = std::make_unique<Cache>();

  // Which tokens BPE makes of their own bytes: checked by running it, so that the shortcut in
  // encode_piece() gives exactly what merging would.
  std::vector<char> whole(tokens_.size(), 0);
#pragma omp parallel for num_threads(kiln::num_threads()) schedule(dynamic, 256)
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (special[id] || tokens_[id].size() < 2) continue;
    std::vector<int32_t> ids;
    encode_piece_uncached(tokens_[id], ids);
    whole[id] = ids.size() == 1 && ids[0] == int32_t(id);
  }
  whole_ = TokenTable();
  whole_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (whole[id]) whole_.insert(int32_t(id), tokens_);
}

void BytePairEncoder::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (piece.empty()) return;
  if (const int32_t id = whole_.find(piece, tokens_); id >= 0) {
    out.push_back(id);
    return;
  }
  if (piece.size() > Cache::kMaxPiece) {
    encode_piece_uncached(piece, out);
    return;
  }
  const size_t h = Cache::Hash()(piece);
  Cache::Shard& shard = cache_->shards[(h >> 7) % Cache::kShards];
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(piece);
    if (it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out.size();
  encode_piece_uncached(piece, out);
  std::vector<int32_t> ids(out.begin() + std::ptrdiff_t(start), out.end());
  std::lock_guard lock(shard.mu);
  if (shard.map.size() >= Cache::kMaxPerShard) shard.map.clear();
  shard.map.emplace(std::string(piece), std::move(ids));
}

void BytePairEncoder::encode_piece_uncached(std::string_view piece,
                                            std::vector<int32_t>& out) const {
  if (piece.size() <= 64)
    merge_small(piece, out);
  else
    merge_large(piece, out);
}

// Short pieces (nearly all): arrays of the symbols and of the rank of each adjacent pair; each
// step finds the lowest rank by a scan, merges, and looks up the two pairs that changed.
// O(n^2) comparisons but O(n) hash look-ups, which is what costs.
void BytePairEncoder::merge_small(std::string_view piece, std::vector<int32_t>& out) const {
  int32_t ids[64], ranks[64], made[64];  // ranks[i], made[i]: the merge of (ids[i], ids[i+1])
  size_t m = piece.size();
  for (size_t i = 0; i < m; ++i) ids[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
  auto update = [&](size_t i) {
    const MergeInfo* info = find_merge(ids[i], ids[i + 1]);
    ranks[i] = info ? info->rank : INT_MAX;
    made[i] = info ? info->id : -1;
  };
  for (size_t i = 0; i + 1 < m; ++i) update(i);
  while (m > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < m; ++i)
      if (ranks[i] < ranks[best]) best = i;
    if (ranks[best] == INT_MAX) break;
    ids[best] = made[best];
    // Drop symbol best+1 and pair (best+1, best+2), which becomes (best, best+1).
    std::memmove(ids + best + 1, ids + best + 2, (m - best - 2) * sizeof(int32_t));
    if (best + 2 < m) {
      std::memmove(ranks + best + 1, ranks + best + 2, (m - best - 3) * sizeof(int32_t));
      std::memmove(made + best + 1, made + best + 2, (m - best - 3) * sizeof(int32_t));
    }
    --m;
    if (best + 1 < m) update(best);
    if (best > 0) update(best - 1);
  }
  out.insert(out.end(), ids, ids + m);
}

// Long pieces (runs of spaces, digits, text without spaces): a linked list of symbols and a
// heap of candidate merges ordered by (rank, position), checked when popped because a merge
// changes its neighbours' pairs. O(n log n).
void BytePairEncoder::merge_large(std::string_view piece, std::vector<int32_t>& out) const {
  const int32_t n = int32_t(piece.size());
  struct Node {
    int32_t id, prev, next;
  };
  struct Cand {
    int32_t rank, pos, left, right;  // the merge of node pos (id left) with its next (id right)
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Node> nodes(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i)
    nodes[size_t(i)] = {byte_ids_[static_cast<unsigned char>(piece[size_t(i)])], i - 1, i + 1};
  nodes[size_t(n - 1)].next = -1;
  std::priority_queue<Cand, std::vector<Cand>, std::greater<>> heap;
  auto push = [&](int32_t pos) {
    const int32_t nx = nodes[size_t(pos)].next;
    if (nx < 0) return;
    if (const MergeInfo* info = find_merge(nodes[size_t(pos)].id, nodes[size_t(nx)].id))
      heap.push({info->rank, pos, nodes[size_t(pos)].id, nodes[size_t(nx)].id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  std::vector<char> dead(static_cast<size_t>(n), 0);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    Node& a = nodes[size_t(c.pos)];
    if (dead[size_t(c.pos)] || a.id != c.left || a.next < 0 || nodes[size_t(a.next)].id != c.right)
      continue;
    const int32_t b = a.next;
    a.id = find_merge(c.left, c.right)->id;
    dead[size_t(b)] = 1;
    a.next = nodes[size_t(b)].next;
    if (a.next >= 0) nodes[size_t(a.next)].prev = c.pos;
    push(c.pos);
    if (a.prev >= 0) push(a.prev);
  }
  for (int32_t i = 0; i >= 0; i = nodes[size_t(i)].next) out.push_back(nodes[size_t(i)].id);
}

// ---- GPT-2's files ------------------------------------------------------------------------------

std::string BytePairEncoder::encoder_json() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const std::string key = bytes_to_unicode_string(tokens_[id]);
    w.Key(key.c_str(), rapidjson::SizeType(key.size()));
    w.Int(int(id));
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string BytePairEncoder::vocab_bpe() const {
  std::string s = "#version: 0.2\n";
  for (const auto& [l, r] : merges_)
    s += bytes_to_unicode_string(tokens_[size_t(l)]) + " " +
         bytes_to_unicode_string(tokens_[size_t(r)]) + "\n";
  return s;
}

std::vector<std::string> BytePairEncoder::parse_encoder_json(const std::string& text,
                                                             const std::string& name) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  KILN_CHECK(!d.HasParseError(), name, ": invalid JSON at byte ", d.GetErrorOffset(), ": ",
             rapidjson::GetParseError_En(d.GetParseError()));
  KILN_CHECK(d.IsObject(), name, ": expected a JSON object mapping each token to its id");
  const size_t n = d.MemberCount();
  std::vector<std::string> tokens(n);
  std::vector<char> seen(n, 0);
  std::string bytes;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    const std::string_view key(it->name.GetString(), it->name.GetStringLength());
    KILN_CHECK(it->value.IsInt() && it->value.GetInt() >= 0 && size_t(it->value.GetInt()) < n, name,
               ": the id of \"", key, "\" is not an integer in [0, ", n,
               ") (the ids must number the ", n, " tokens)");
    const auto id = size_t(it->value.GetInt());
    KILN_CHECK(!seen[id], name, ": id ", id, " is given to \"", key, "\" and to another token");
    KILN_CHECK(unicode_string_to_bytes(key, bytes), name, ": the token \"", key,
               "\" has a character outside GPT-2's byte-to-unicode alphabet");
    seen[id] = 1;
    tokens[id] = bytes;
  }
  return tokens;
}

std::vector<BytePairEncoder::Merge> BytePairEncoder::parse_vocab_bpe(
    const std::string& text, const std::vector<std::string>& tokens, const std::string& name) {
  std::unordered_map<std::string_view, int32_t> by_bytes;
  for (size_t id = 0; id < tokens.size(); ++id) by_bytes.emplace(tokens[id], int32_t(id));
  std::vector<Merge> merges;
  std::string left, right;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    KILN_CHECK(sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                   line.find(' ', sp + 1) == std::string_view::npos,
               name, ":", line_no, ": expected two tokens separated by one space, got \"", line,
               "\"");
    KILN_CHECK(unicode_string_to_bytes(line.substr(0, sp), left) &&
                   unicode_string_to_bytes(line.substr(sp + 1), right),
               name, ":", line_no, ": \"", line,
               "\" has a character outside GPT-2's byte-to-unicode alphabet");
    auto l = by_bytes.find(left), r = by_bytes.find(right);
    KILN_CHECK(l != by_bytes.end() && r != by_bytes.end(), name, ":", line_no, ": the merge \"",
               line, "\" names a token that is not in the vocabulary");
    merges.emplace_back(l->second, r->second);
  }
  return merges;
}

}  // namespace kiln::tokenizers
