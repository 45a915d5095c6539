#include "core/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "core/tensor/factory.h"

namespace kiln::safetensors {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace {

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kNames[] = {{DType::f64, "F64"}, {DType::f32, "F32"},     {DType::bf16, "BF16"},
                                {DType::f16, "F16"}, {DType::i32, "I32"},     {DType::i64, "I64"},
                                {DType::u8, "U8"},   {DType::boolean, "BOOL"}};

std::string sys_error() {
  return std::strerror(errno);
}

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t(1) << 30));
    if (w < 0 && errno == EINTR) continue;
    KILN_CHECK(w > 0, "safetensors.write: ", path, ": write failed: ", sys_error());
    p += w;
    n -= size_t(w);
  }
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

const char* dtype_to_string(DType dtype) {
  for (const auto& e : kNames)
    if (e.dtype == dtype) return e.name;
  KILN_FAIL("safetensors: dtype ", dtype_name(dtype), " has no safetensors name");
}

DType dtype_from_string(const std::string& name) {
  for (const auto& e : kNames)
    if (name == e.name) return e.dtype;
  KILN_FAIL("unknown dtype \"", name, "\" (kiln reads F64, F32, BF16, F16, I32, I64, U8, BOOL)");
}

// ---- write ----------------------------------------------------------------------------------

void write(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  // Layout: decreasing element size, then name, so every tensor is aligned for its type
  // (the data region starts at a multiple of 8, and each size class fills whole elements).
  std::vector<std::pair<std::string, Tensor>> order(tensors.begin(), tensors.end());
  for (const auto& [name, t] : order) {
    KILN_CHECK(name != kMetadataKey, "safetensors.write: ", path, ": '", kMetadataKey,
               "' is reserved for the metadata and cannot name a tensor");
    KILN_CHECK(t.defined(), "safetensors.write: ", path, ": tensor '", name, "' is undefined");
    dtype_to_string(t.dtype());
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.itemsize() > b.second.itemsize();
  });

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  if (!metadata.empty()) {
    w.Key(kMetadataKey);
    w.StartObject();
    for (const auto& [k, v] : metadata) {
      w.Key(k.data(), rapidjson::SizeType(k.size()));
      w.String(v.data(), rapidjson::SizeType(v.size()));
    }
    w.EndObject();
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    w.Key(name.data(), rapidjson::SizeType(name.size()));
    w.StartObject();
    w.Key("dtype");
    w.String(dtype_to_string(t.dtype()));
    w.Key("shape");
    w.StartArray();
    for (int64_t d : t.shape()) w.Uint64(uint64_t(d));
    w.EndArray();
    w.Key("data_offsets");
    w.StartArray();
    w.Uint64(offset);
    offset += t.nbytes();
    w.Uint64(offset);
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  std::string header(buf.GetString(), buf.GetSize());
  header.append((8 - header.size() % 8) % 8, ' ');
  uint64_t n = header.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));

  // A unique temporary name beside the target, so the rename stays within one filesystem.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = str_cat(path, ".tmp-", ::getpid(), "-", counter++);
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  KILN_CHECK(f.fd >= 0, "safetensors.write: cannot create ", tmp, ": ", sys_error());
  try {
    write_all(f.fd, len, 8, path);
    write_all(f.fd, header.data(), header.size(), path);
    for (const auto& [name, t] : order) {
      if (t.numel() == 0) continue;
      if (t.device().is_cpu() && t.is_contiguous()) {
        write_all(f.fd, t.data_ptr(), t.nbytes(), path);
      } else {
        std::vector<unsigned char> host(t.nbytes());
        copy_to_host_buffer(t, t.dtype(), host.data());
        write_all(f.fd, host.data(), host.size(), path);
      }
    }
    KILN_CHECK(::fsync(f.fd) == 0, "safetensors.write: ", path, ": fsync failed: ", sys_error());
    int fd = f.fd;
    f.fd = -1;
    KILN_CHECK(::close(fd) == 0, "safetensors.write: ", path, ": close failed: ", sys_error());
    KILN_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "safetensors.write: cannot rename ", tmp,
               " to ", path, ": ", sys_error());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable; a failure here leaves a complete file, so it is ignored.
  Fd dir;
  dir.fd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir.fd >= 0) ::fsync(dir.fd);
}

// ---- read -----------------------------------------------------------------------------------

namespace {

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// Parses one tensor's header entry; messages start with the file and the tensor name.
Entry parse_entry(const std::string& name, const rapidjson::Value& v, const std::string& where) {
  const std::string at = str_cat(where, ": tensor '", name, "': ");
  KILN_CHECK(v.IsObject(), at, "the header entry is not a JSON object");
  auto dtype_it = v.FindMember("dtype");
  KILN_CHECK(dtype_it != v.MemberEnd() && dtype_it->value.IsString(), at,
             "missing or non-string \"dtype\"");
  Entry e;
  e.name = name;
  try {
    e.dtype = dtype_from_string(dtype_it->value.GetString());
  } catch (const Error& err) {
    KILN_FAIL(at, err.what());
  }
  auto shape_it = v.FindMember("shape");
  KILN_CHECK(shape_it != v.MemberEnd() && shape_it->value.IsArray(), at,
             "missing or non-array \"shape\"");
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : shape_it->value.GetArray()) {
    KILN_CHECK(d.IsUint64() && d.GetUint64() <= uint64_t(INT64_MAX), at,
               "\"shape\" must hold non-negative integers");
    e.shape.push_back(int64_t(d.GetUint64()));
    overflow |= __builtin_mul_overflow(numel, d.GetUint64(), &numel);
  }
  auto off_it = v.FindMember("data_offsets");
  KILN_CHECK(off_it != v.MemberEnd() && off_it->value.IsArray() && off_it->value.Size() == 2 &&
                 off_it->value[0].IsUint64() && off_it->value[1].IsUint64(),
             at, "\"data_offsets\" must be [begin, end] with non-negative integers");
  e.begin = off_it->value[0].GetUint64();
  e.end = off_it->value[1].GetUint64();
  KILN_CHECK(e.begin <= e.end, at, "data_offsets [", e.begin, ", ", e.end,
             "] end before they begin");
  uint64_t nbytes = 0;
  overflow |= __builtin_mul_overflow(numel, uint64_t(itemsize(e.dtype)), &nbytes);
  KILN_CHECK(!overflow && nbytes == e.end - e.begin, at, "shape ", e.shape, " of ",
             dtype_to_string(e.dtype), " needs ",
             overflow ? std::string("more than 2^64") : std::to_string(nbytes),
             " bytes but data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin);
  return e;
}

}  // namespace

File read(const std::string& path) {
  const std::string where = "safetensors.read: " + path;
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(f.fd >= 0, where, ": cannot open: ", sys_error());
  struct stat st;
  KILN_CHECK(::fstat(f.fd, &st) == 0, where, ": cannot stat: ", sys_error());
  KILN_CHECK(S_ISREG(st.st_mode), where, ": not a regular file");
  const uint64_t size = uint64_t(st.st_size);
  KILN_CHECK(size >= 8, where, ": file too short (", size,
             " bytes); a safetensors file starts with an 8-byte header length");

  // Private and writable: pages are shared with the page cache until a tensor is written to,
  // and such a write is copied, never reaching the file. (A read-only mapping would turn a
  // stray in-place op on a loaded tensor into a crash.)
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  KILN_CHECK(base != MAP_FAILED, where, ": mmap failed: ", sys_error());
  std::shared_ptr<void> mapping(base, [size](void* p) { ::munmap(p, size); });
  const char* bytes = static_cast<const char*>(base);

  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  KILN_CHECK(n <= size - 8, where, ": header length ", n, " goes beyond the end of the file (",
             size, " bytes, so at most ", size - 8, ")");

  rapidjson::Document doc;
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
  doc.Parse<kFlags>(bytes + 8, size_t(n));
  KILN_CHECK(!doc.HasParseError(), where,
             ": the header is not valid JSON: ", rapidjson::GetParseError_En(doc.GetParseError()),
             " (at byte ", doc.GetErrorOffset(), " of the header)");
  KILN_CHECK(doc.IsObject(), where, ": the header is not a JSON object");

  File out;
  std::vector<Entry> entries;
  std::set<std::string> names;
  for (const auto& m : doc.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    KILN_CHECK(names.insert(name).second, where, ": '", name, "' appears twice in the header");
    if (name == kMetadataKey) {
      KILN_CHECK(m.value.IsObject(), where, ": \"", kMetadataKey,
                 "\" must be an object of strings");
      for (const auto& kv : m.value.GetObject()) {
        KILN_CHECK(kv.value.IsString(), where, ": metadata value of \"", kv.name.GetString(),
                   "\" is not a string");
        out.metadata[std::string(kv.name.GetString(), kv.name.GetStringLength())] =
            std::string(kv.value.GetString(), kv.value.GetStringLength());
      }
      continue;
    }
    entries.push_back(parse_entry(name, m.value, where));
  }

  // The tensors must tile the data region exactly: sorted by offset, each begins where the
  // previous one ended, and the last ends at the end of the file.
  const uint64_t data_size = size - 8 - n;
  for (const Entry& e : entries)
    KILN_CHECK(e.end <= data_size, where, ": tensor '", e.name, "': data_offsets [", e.begin, ", ",
               e.end, "] lie outside the data region (", data_size, " bytes after the header)");
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : sorted) {
    KILN_CHECK(e->begin >= pos, where, ": tensor '", e->name, "' at [", e->begin, ", ", e->end,
               ") overlaps tensor '", prev ? prev->name : "", "' at [", prev ? prev->begin : 0,
               ", ", pos, ")");
    KILN_CHECK(e->begin == pos, where, ": data bytes [", pos, ", ", e->begin, ") before tensor '",
               e->name,
               "' belong to no tensor; the tensors must cover the data region contiguously");
    pos = e->end;
    prev = e;
  }
  KILN_CHECK(pos == data_size, where, ": data bytes [", pos, ", ", data_size, ") after ",
             prev ? "the last tensor '" + prev->name + "'" : std::string("the header"),
             " belong to no tensor; the tensors must cover the data region contiguously");

  const char* data = bytes + 8 + n;
  for (const Entry& e : entries) {
    const char* p = data + e.begin;
    const size_t nbytes = size_t(e.end - e.begin);
    if (e.dtype == DType::boolean) {
      // A bool byte other than 0 or 1 is not a value C++ can hold.
      for (size_t i = 0; i < nbytes; ++i)
        KILN_CHECK(static_cast<unsigned char>(p[i]) <= 1, where, ": tensor '", e.name,
                   "' (BOOL) holds byte ", int(static_cast<unsigned char>(p[i])), " at element ", i,
                   "; expected 0 or 1");
    }
    if (reinterpret_cast<uintptr_t>(p) % itemsize(e.dtype) == 0) {
      auto storage =
          std::make_shared<Storage>(const_cast<char*>(p), nbytes, Device::cpu(), mapping);
      out.tensors[e.name] = make_view(storage, e.shape, contiguous_strides(e.shape), 0, e.dtype);
    } else {
      out.tensors[e.name] = from_host_buffer(p, e.shape, e.dtype);
    }
  }
  return out;
}

}  // namespace kiln::safetensors
