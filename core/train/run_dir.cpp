#include "core/train/run_dir.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/io/file.h"

namespace kiln::train {

namespace fs = std::filesystem;

bool RunDir::has_spec() const {
  std::error_code ec;
  return fs::is_regular_file(spec_path(), ec);
}

void RunDir::create() const {
  std::error_code ec;
  fs::create_directories(checkpoints(), ec);
  KILN_CHECK(!ec, root_, ": cannot create the run directory: ", ec.message());
}

void RunDir::write_spec(const Config& spec) const {
  io::write_file_atomically(spec_path(), spec.to_json(true) + "\n");
}

Config RunDir::read_spec() const {
  std::ifstream in(spec_path(), std::ios::binary);
  KILN_CHECK(in, spec_path(), ": cannot read the run's spec (", std::strerror(errno), "); is ",
             root_, " a run directory written by kiln train?");
  std::stringstream buf;
  buf << in.rdbuf();
  return Config::from_json(buf.str(), spec_path());
}

}  // namespace kiln::train
