// safetensors: round trips of every dtype, files built byte by byte from the format's spec
// (the check against the external format, both directions), every malformed case, and the
// memory mapping.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/io/safetensors.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
namespace st = safetensors;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("kiln_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

// ---- building files by hand, following the spec ---------------------------------------------

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}
std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}
std::string le16(uint16_t v) {
  return {char(v & 0xff), char(v >> 8)};
}
std::string f32_bytes(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return le32(u);
}

/// u64 header length, the header padded with spaces to a multiple of 8, the data.
std::string file_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}
std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// ---- round trips ----------------------------------------------------------------------------

TEST_F(Safetensors, RoundTripOfEveryDtypeWithMetadata) {
  Generator g(3);
  st::TensorMap tensors = {
      {"f64", randn({2, 3}, DType::f64, &g)},
      {"f32", randn({4}, DType::f32, &g)},
      {"bf16", randn({3, 1, 2}, DType::bf16, &g)},
      {"f16", randn({5}, DType::f16, &g)},
      {"i32", tensor({-7, 0, 2147483647}, {3}, DType::i32)},
      {"i64", from_vector<int64_t>({int64_t(1) << 40, -3}, {2})},
      {"u8", tensor({0, 255, 17}, {3}, DType::u8)},
      {"bool", from_vector<bool>({true, false, true, true}, {2, 2})},
      {"scalar", scalar(2.5, DType::f32)},  // 0-d
      {"empty", empty({0}, DType::f32)},    // no elements
      {"empty2d", empty({2, 0, 3}, DType::bf16)},
      {"transposed", randn({3, 4}, DType::f32, &g).transpose(0, 1)},  // written row-major
  };
  st::Metadata meta = {{"format", "pt"}, {"note", "weights \"quoted\" and unicode: \xc3\xa9"}};
  st::write(path("all.safetensors"), tensors, meta);
  st::File f = st::read(path("all.safetensors"));
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const Tensor& r = f.tensors.at(name);
    EXPECT_EQ(r.dtype(), t.dtype());
    EXPECT_EQ(r.shape(), t.shape());
    EXPECT_TRUE(r.is_contiguous());
    EXPECT_EQ(r.to_vector<double>(), t.to_vector<double>());
  }
}

TEST_F(Safetensors, WriterProducesTheSpecsBytes) {
  // Expected file built by hand: metadata first, then tensors by decreasing element size
  // (i64 before f32 before bf16), names in order within a size, compact JSON, spaces to a
  // multiple of 8, then the little-endian data.
  st::TensorMap tensors = {{"w", tensor({1.0, -2.0}, {2}, DType::f32)},
                           {"ids", from_vector<int64_t>({5}, {1})},
                           {"a", tensor({0.5}, {}, DType::bf16).reshape({})},
                           {"b", tensor({3.0}, {1}, DType::f32)}};
  st::write(path("x.safetensors"), tensors, {{"k", "v"}});
  std::string header = R"({"__metadata__":{"k":"v"},)"
                       R"("ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                       R"("w":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},)"
                       R"("a":{"dtype":"BF16","shape":[],"data_offsets":[20,22]}})";
  std::string data = le64(5) + f32_bytes(3.0f) + f32_bytes(1.0f) + f32_bytes(-2.0f) + le16(0x3f00);
  EXPECT_EQ(read_bytes(path("x.safetensors")), file_bytes(header, data));
}

TEST_F(Safetensors, ReadsAFileBuiltFromTheSpec) {
  std::string header = R"({"__metadata__":{"format":"pt","step":"12"},)"
                       R"( "emb.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},)"
                       R"( "pos":{"data_offsets":[0,16],"shape":[2],"dtype":"I64"},)"
                       R"( "gain":{"dtype":"F16","shape":[],"data_offsets":[32,34]},)"
                       R"( "mask":{"dtype":"BOOL","shape":[2],"data_offsets":[34,36]},)"
                       R"( "none":{"dtype":"F64","shape":[0,4],"data_offsets":[36,36]}})";
  std::string data = le64(uint64_t(-3)) + le64(7) + f32_bytes(1.5f) + f32_bytes(-2.0f) +
                     f32_bytes(0.25f) + f32_bytes(1e30f) + le16(0x3c00) /* f16 1.0 */ +
                     std::string("\x01\x00", 2);
  write_bytes(path("ext.safetensors"), file_bytes(header, data));
  st::File f = st::read(path("ext.safetensors"));
  EXPECT_EQ(f.metadata, (st::Metadata{{"format", "pt"}, {"step", "12"}}));
  EXPECT_EQ(f.tensors.at("pos").dtype(), DType::i64);
  EXPECT_EQ(f.tensors.at("pos").to_vector<int64_t>(), (std::vector<int64_t>{-3, 7}));
  EXPECT_EQ(f.tensors.at("emb.weight").shape(), (Shape{2, 2}));
  EXPECT_EQ(f.tensors.at("emb.weight").to_vector<float>(),
            (std::vector<float>{1.5f, -2.0f, 0.25f, 1e30f}));
  EXPECT_EQ(f.tensors.at("gain").dim(), 0);
  EXPECT_EQ(f.tensors.at("gain").item(), 1.0);
  EXPECT_EQ(f.tensors.at("mask").to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(f.tensors.at("none").shape(), (Shape{0, 4}));
  EXPECT_EQ(f.tensors.at("none").dtype(), DType::f64);
}

TEST_F(Safetensors, ReadTensorsAliasTheMapping) {
  st::TensorMap tensors = {{"a", full({1024, 1024}, 1.0)}, {"b", full({4}, 2.0)}};
  st::write(path("m.safetensors"), tensors);
  const size_t in_use = memory_stats().in_use;
  st::File f = st::read(path("m.safetensors"));
  // Nothing was allocated for the 4 MiB of data: the tensors view the mapped file.
  EXPECT_LT(memory_stats().in_use, in_use + 1024 * 1024);
  // Laid out by name within a size class: a at [0, 4 MiB), b right after, in one mapping.
  Tensor a = f.tensors.at("a"), b = f.tensors.at("b");
  EXPECT_EQ(static_cast<char*>(b.data_ptr()) - static_cast<char*>(a.data_ptr()), 1024 * 1024 * 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data_ptr()) % 8, 0u);
  // The mapping outlives the File: keep only b.
  f = st::File{};
  a = Tensor();
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(4, 2.0f));
  // Writes are private to the process: the file keeps its contents.
  b.fill_(5.0);
  EXPECT_EQ(st::read(path("m.safetensors")).tensors.at("b").to_vector<float>(),
            std::vector<float>(4, 2.0f));
}

TEST_F(Safetensors, MixedDtypesFromKilnAreAligned) {
  st::TensorMap tensors = {{"a8", tensor({1, 2, 3}, {3}, DType::u8)},
                           {"b16", tensor({1, 2, 3}, {3}, DType::f16)},
                           {"c32", tensor({1}, {1}, DType::f32)},
                           {"d64", tensor({1}, {1}, DType::f64)},
                           {"e16", tensor({4}, {1}, DType::bf16)}};
  st::write(path("mix.safetensors"), tensors);
  for (const auto& [name, t] : st::read(path("mix.safetensors")).tensors)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % t.itemsize(), 0u) << name;
}

TEST_F(Safetensors, UnalignedTensorsFromElsewhereAreCopied) {
  std::string header = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})";
  write_bytes(path("u.safetensors"), file_bytes(header, std::string("\x09", 1) + f32_bytes(-6.5f)));
  st::File f = st::read(path("u.safetensors"));
  EXPECT_EQ(f.tensors.at("a").item(), 9.0);
  EXPECT_EQ(f.tensors.at("b").item(), -6.5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.tensors.at("b").data_ptr()) % 4, 0u);
}

TEST_F(Safetensors, WriteReplacesAtomically) {
  st::write(path("w.safetensors"), {{"x", full({3}, 1.0)}});
  st::write(path("w.safetensors"), {{"y", full({2}, 2.0)}});
  st::File f = st::read(path("w.safetensors"));
  EXPECT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors.count("y"), 1u);
  // No temporary file is left behind, after success or failure.
  EXPECT_THROW(st::write(path("w.safetensors"), {{"bad", Tensor()}}), Error);
  std::string msg = message_of([&] {
    st::write(path("no/such/dir/z.safetensors"), {{"x", full({1}, 1.0)}});
  });
  EXPECT_HAS(msg, "cannot create");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_HAS(message_of([&] {
               st::write(path("m.safetensors"), {{"__metadata__", full({1}, 1.0)}});
             }),
             "'__metadata__' is reserved");
}

// ---- malformed files ------------------------------------------------------------------------

struct Malformed {
  const char* what;
  std::string bytes;
  const char* expected;
};

TEST_F(Safetensors, MalformedFilesThrowNamingTheProblem) {
  auto one = [](const std::string& entry, const std::string& data) {
    return file_bytes("{" + entry + "}", data);
  };
  const std::string f32x2 = f32_bytes(1) + f32_bytes(2);
  std::vector<Malformed> cases = {
      {"short", std::string("\x05\x00\x00", 3), "file too short (3 bytes)"},
      {"header_beyond", le64(1000) + std::string(12, ' '),
       "header length 1000 goes beyond the end of the file"},
      {"bad_json", file_bytes(R"({"x": {"dtype": "F32",)", ""), "the header is not valid JSON"},
      {"not_object", file_bytes("[1, 2]", ""), "the header is not a JSON object"},
      {"unknown_dtype", one(R"("x":{"dtype":"I16","shape":[1],"data_offsets":[0,2]})", "ab"),
       "tensor 'x': unknown dtype \"I16\""},
      {"size_mismatch", one(R"("x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]})", f32x2),
       "tensor 'x': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8"},
      {"outside", one(R"("x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})", f32x2),
       "tensor 'x': data_offsets [0, 16] lie outside the data region (8 bytes after the header)"},
      {"reversed", one(R"("x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]})", f32x2),
       "tensor 'x': data_offsets [8, 4] end before they begin"},
      {"overlap",
       one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})",
           f32x2),
       "tensor 'b' at [4, 8) overlaps tensor 'a' at [0, 8)"},
      {"gap",
       one(R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]})",
           f32x2 + f32x2.substr(0, 4)),
       "data bytes [4, 8) before tensor 'b' belong to no tensor"},
      {"trailing", one(R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", f32x2),
       "data bytes [4, 8) after the last tensor 'a' belong to no tensor"},
      {"bad_shape",
       one(R"("x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", f32x2.substr(0, 4)),
       "tensor 'x': \"shape\" must hold non-negative integers"},
      {"no_offsets", one(R"("x":{"dtype":"F32","shape":[1]})", f32x2.substr(0, 4)),
       "tensor 'x': \"data_offsets\" must be [begin, end]"},
      {"huge_shape",
       one(R"("x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]})", f32x2),
       "needs more than 2^64 bytes"},
      {"bool_byte",
       one(R"("m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]})", std::string("\x01\x02", 2)),
       "tensor 'm' (BOOL) holds byte 2 at element 1"},
      {"duplicate",
       one(R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]})",
           "xy"),
       "'a' appears twice in the header"},
      {"metadata_value", one(R"("__metadata__":{"n":3})", ""),
       "metadata value of \"n\" is not a string"},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string p = path(std::string(c.what) + ".safetensors");
    write_bytes(p, c.bytes);
    std::string msg = message_of([&] { st::read(p); });
    EXPECT_HAS(msg, p);
    EXPECT_HAS(msg, c.expected);
  }
  EXPECT_HAS(message_of([&] { st::read(path("missing.safetensors")); }), "cannot open");
}

}  // namespace
}  // namespace kiln
