// Helpers of the tokenizer tests: the shared data folder, files, temporary directories.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace kiln::tokenizers::testing {

inline std::string shared_data(const std::string& rel) {
  return std::string(KILN_SHARED_DATA) + "/" + rel;
}

inline bool exists(const std::string& path) {
  return std::filesystem::exists(path);
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// A fresh empty directory under the system's temporary folder, removed with the object.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("kiln_tok_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

/// Random bytes: arbitrary, including invalid UTF-8.
inline std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = char(rng() & 0xFF);
  return s;
}

/// Random text from a small alphabet of ASCII, multi-byte UTF-8, whitespace and apostrophes, so
/// that every pre-tokenisation rule comes up often.
inline std::string random_text(std::mt19937& rng, size_t n_chars) {
  static const char* alphabet[] = {"a",
                                   "b",
                                   "e",
                                   "s",
                                   "t",
                                   "r",
                                   "l",
                                   "d",
                                   "m",
                                   "v",
                                   "A",
                                   "Z",
                                   "0",
                                   "7",
                                   " ",
                                   " ",
                                   " ",
                                   "  ",
                                   "\n",
                                   "\t",
                                   "\r\n",
                                   "'",
                                   "'",
                                   "!",
                                   ".",
                                   ",",
                                   "-",
                                   "é",
                                   "ß",
                                   "Ж",
                                   "中",
                                   "٣",
                                   "Ⅻ",
                                   "\xC2\xA0",
                                   "\xE3\x80\x80",
                                   "😀",
                                   "\xCC\x81",
                                   "\xF0\x9F\x91\x8D"};
  std::string s;
  std::uniform_int_distribution<size_t> pick(0, std::size(alphabet) - 1);
  for (size_t i = 0; i < n_chars; ++i) s += alphabet[pick(rng)];
  return s;
}

}  // namespace kiln::tokenizers::testing
