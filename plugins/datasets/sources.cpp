#include "plugins/datasets/sources.h"

#include <glob.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/error.h"

namespace kiln::datasets {

namespace fs = std::filesystem;

std::vector<std::string> path_patterns(const Config& c) {
  std::vector<std::string> out;
  if (c.type() == Config::Type::string) {
    out.push_back(c.as_string());
  } else if (c.is_list()) {
    for (const Config& item : c.items()) {
      if (item.type() != Config::Type::string)
        c.fail("expected a file, a glob, or a list of them; an item is a " + item.type_name());
      out.push_back(item.as_string());
    }
  } else {
    c.fail("expected a file, a glob, or a list of them, got a " + c.type_name());
  }
  if (out.empty()) c.fail("no files given");
  for (const std::string& p : out)
    if (p.empty()) c.fail("an empty file name");
  return out;
}

std::vector<std::string> glob_files(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> matches;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  // Folders that a glob happens to match are not data files.
  std::erase_if(matches, [](const std::string& m) { return fs::is_directory(m); });
  return matches;
}

std::vector<std::string> expand_paths(const std::vector<std::string>& patterns,
                                      const std::string& where) {
  std::vector<std::string> files;
  for (const std::string& p : patterns) {
    if (p.find_first_of("*?[") != std::string::npos) {
      std::vector<std::string> matches = glob_files(p);
      KILN_CHECK(!matches.empty(), where, "glob \"", p, "\" matches no file");
      files.insert(files.end(), matches.begin(), matches.end());
    } else {
      std::error_code ec;
      KILN_CHECK(
          fs::exists(p, ec), where, "\"", p, "\": no such file",
          fs::path(p).is_relative() ? " (relative to " + fs::current_path(ec).string() + ")" : "");
      KILN_CHECK(!fs::is_directory(p, ec), where, "\"", p,
                 "\" is a folder; name its files, or a glob such as \"", p, "/*.txt\"");
      files.push_back(p);
    }
  }
  return files;
}

namespace {

std::string gunzip(const std::string& path, const std::string& where) {
  gzFile f = ::gzopen(path.c_str(), "rb");
  KILN_CHECK(f, where, "\"", path, "\": cannot open: ", std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = ::gzread(f, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  int err = Z_OK;
  std::string msg = ::gzerror(f, &err);
  ::gzclose(f);
  // A truncated stream reads short and leaves Z_BUF_ERROR behind rather than failing the read.
  KILN_CHECK(n == 0 && (err == Z_OK || err == Z_STREAM_END), where, "\"", path,
             "\": corrupt or truncated gzip data (", msg, ")");
  return out;
}

}  // namespace

std::string read_file(const std::string& path, const std::string& where) {
  std::string text;
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    text = gunzip(path, where);
  } else {
    std::ifstream in(path, std::ios::binary);
    KILN_CHECK(in, where, "\"", path, "\": cannot open: ", std::strerror(errno));
    in.seekg(0, std::ios::end);
    std::streamoff size = in.tellg();
    KILN_CHECK(size >= 0, where, "\"", path, "\": cannot read");
    in.seekg(0);
    text.resize(size_t(size));
    in.read(text.data(), size);
    KILN_CHECK(in.gcount() == size, where, "\"", path, "\": read failed");
  }
  KILN_CHECK(!text.empty(), where, "\"", path, "\": the file is empty");
  return text;
}

}  // namespace kiln::datasets
