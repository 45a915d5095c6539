#include "core/data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/base/error.h"

namespace kiln::data {

static_assert(std::endian::native == std::endian::little,
              "shards are little-endian and read in place");

namespace {

std::string sys_error() {
  return std::strerror(errno);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    KILN_CHECK(w > 0, "shard ", path, ": write failed: ", sys_error());
    p += w;
    n -= size_t(w);
  }
}

template <class T>
void put(unsigned char* at, T v) {
  std::memcpy(at, &v, sizeof(T));
}
template <class T>
T get(const unsigned char* at) {
  T v;
  std::memcpy(&v, at, sizeof(T));
  return v;
}

}  // namespace

int shard_token_bytes(int64_t vocab_size) {
  return vocab_size <= 65536 ? 2 : 4;
}

void write_shard(const std::string& path, std::span<const int32_t> tokens, int64_t vocab_size,
                 std::optional<int32_t> eos) {
  KILN_CHECK(vocab_size > 0 && vocab_size <= int64_t(1) << 32, "shard ", path, ": vocabulary size ",
             vocab_size, " is outside [1, 2^32]");
  const int width = shard_token_bytes(vocab_size);
  unsigned char header[kShardHeaderBytes] = {};
  std::memcpy(header, kShardMagic, 8);
  put<uint32_t>(header + 8, kShardVersion);
  put<uint32_t>(header + 12, uint32_t(width));
  put<uint64_t>(header + 16, uint64_t(tokens.size()));
  put<uint64_t>(header + 24, uint64_t(vocab_size));
  put<int64_t>(header + 32, eos ? int64_t(*eos) : -1);

  static std::atomic<uint64_t> counter{0};
  const std::string tmp = str_cat(path, ".tmp-", ::getpid(), "-", counter++);
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  KILN_CHECK(f.fd >= 0, "shard ", path, ": cannot create ", tmp, ": ", sys_error());
  try {
    write_all(f.fd, header, sizeof header, path);
    // Narrow in blocks, checking every id against the vocabulary on the way.
    constexpr size_t kBlock = size_t(1) << 16;
    std::vector<unsigned char> buf(kBlock * size_t(width));
    for (size_t b = 0; b < tokens.size(); b += kBlock) {
      size_t n = std::min(kBlock, tokens.size() - b);
      for (size_t i = 0; i < n; ++i) {
        int32_t t = tokens[b + i];
        KILN_CHECK(t >= 0 && t < vocab_size, "shard ", path, ": token ", b + i, " is ", t,
                   ", outside the vocabulary [0, ", vocab_size, ")");
        if (width == 2)
          put<uint16_t>(&buf[i * 2], uint16_t(t));
        else
          put<uint32_t>(&buf[i * 4], uint32_t(t));
      }
      write_all(f.fd, buf.data(), n * size_t(width), path);
    }
    int fd = f.fd;
    f.fd = -1;
    KILN_CHECK(::close(fd) == 0, "shard ", path, ": close failed: ", sys_error());
    KILN_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "shard ", path, ": cannot rename ", tmp,
               ": ", sys_error());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

ShardFile::ShardFile(const std::string& path) : path_(path) {
  const std::string where = "shard " + path;
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(f.fd >= 0, where, ": cannot open: ", sys_error());
  struct stat st;
  KILN_CHECK(::fstat(f.fd, &st) == 0, where, ": cannot stat: ", sys_error());
  KILN_CHECK(S_ISREG(st.st_mode), where, ": not a regular file");
  const uint64_t size = uint64_t(st.st_size);
  KILN_CHECK(size >= kShardHeaderBytes, where, ": file too short (", size, " bytes) for the ",
             kShardHeaderBytes, "-byte shard header; not a kiln token shard, or truncated");

  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, f.fd, 0);
  KILN_CHECK(base != MAP_FAILED, where, ": mmap failed: ", sys_error());
  mapping_ = std::shared_ptr<const void>(
      base, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  const auto* h = static_cast<const unsigned char*>(base);

  KILN_CHECK(std::memcmp(h, kShardMagic, 8) == 0, where,
             ": wrong magic (not a kiln token shard; `kiln data tokenize` writes them)");
  info_.version = get<uint32_t>(h + 8);
  KILN_CHECK(info_.version == kShardVersion, where, ": shard format version ", info_.version,
             ", but this kiln reads version ", kShardVersion);
  uint32_t width = get<uint32_t>(h + 12);
  KILN_CHECK(width == 2 || width == 4, where, ": corrupt header: ", width,
             " bytes per token (expected 2 or 4)");
  info_.token_bytes = int(width);
  uint64_t count = get<uint64_t>(h + 16), vocab = get<uint64_t>(h + 24);
  int64_t eos = get<int64_t>(h + 32);
  KILN_CHECK(vocab >= 1 && vocab <= uint64_t(1) << 32, where, ": corrupt header: vocabulary size ",
             vocab);
  KILN_CHECK(int(width) == shard_token_bytes(int64_t(vocab)), where, ": corrupt header: ", width,
             " bytes per token for a vocabulary of ", vocab);
  KILN_CHECK(eos >= -1 && eos < int64_t(vocab), where, ": corrupt header: end-of-text id ", eos,
             " outside the vocabulary of ", vocab);
  const uint64_t data_bytes = size - kShardHeaderBytes;
  const bool truncated = count > data_bytes / width;
  KILN_CHECK(!truncated && count * width == data_bytes, where, ": the header says ", count,
             " tokens of ", width, " bytes but the file holds ", data_bytes,
             " bytes after the header", truncated ? " (truncated)" : " (trailing bytes)");
  info_.count = int64_t(count);
  info_.vocab_size = int64_t(vocab);
  if (eos >= 0) info_.eos = int32_t(eos);
  tokens_ = h + kShardHeaderBytes;
}

int32_t ShardFile::at(int64_t i) const {
  KILN_CHECK(i >= 0 && i < info_.count, "shard ", path_, ": token index ", i, " outside [0, ",
             info_.count, ")");
  const auto* p = static_cast<const unsigned char*>(tokens_);
  return info_.token_bytes == 2 ? int32_t(get<uint16_t>(p + i * 2))
                                : int32_t(get<uint32_t>(p + i * 4));
}

}  // namespace kiln::data
