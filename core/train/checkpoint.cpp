#include "core/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/io/safetensors.h"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "step_";
constexpr const char* kTmpPrefix = ".tmp-";
constexpr const char* kOldPrefix = ".old-";

// The step of a complete checkpoint's directory name, or -1.
int64_t step_of(const std::string& name) {
  const std::string p = kPrefix;
  if (name.size() <= p.size() || name.compare(0, p.size(), p) != 0) return -1;
  int64_t v = 0;
  for (size_t i = p.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || v > (int64_t(1) << 50)) return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_text(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    KILN_CHECK(out, "checkpoint: cannot create ", path, ": ", std::strerror(errno));
    out << text;
    out.flush();
    KILN_CHECK(out, "checkpoint: cannot write ", path, ": ", std::strerror(errno));
  }
  fsync_path(path, false);
}

// Test-only fault injection: abort after writing `file` when asked to.
void maybe_abort_after(const char* file) {
  const char* v = std::getenv("KILN_TEST_ABORT_IN_CHECKPOINT");
  if (v && std::strcmp(v, file) == 0) {
    std::fprintf(stderr, "kiln: KILN_TEST_ABORT_IN_CHECKPOINT=%s: aborting mid-checkpoint\n", v);
    std::abort();
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, path, ": cannot read the checkpoint's state (", std::strerror(errno), ")");
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%08lld", kPrefix, static_cast<long long>(step));
  return buf;
}

std::vector<CheckpointRef> list_checkpoints(const std::string& dir) {
  std::vector<CheckpointRef> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const int64_t step = step_of(e.path().filename().string());
    if (step < 0 || !e.is_directory(ec)) continue;
    out.push_back({step, e.path().string()});
  }
  std::sort(out.begin(), out.end(),
            [](const CheckpointRef& a, const CheckpointRef& b) { return a.step < b.step; });
  return out;
}

std::optional<CheckpointRef> latest_checkpoint(const std::string& dir) {
  std::vector<CheckpointRef> all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::string write_checkpoint(const std::string& dir, int64_t step, const nn::StateDict& model,
                             const TensorDict& optimizer, const Config& state) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  KILN_CHECK(!ec, "checkpoint: cannot create ", dir, ": ", ec.message());
  const std::string name = checkpoint_name(step);
  const fs::path final_path = fs::path(dir) / name;
  const fs::path tmp = fs::path(dir) / str_cat(kTmpPrefix, name, "-", ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  KILN_CHECK(!ec, "checkpoint: cannot create ", tmp.string(), ": ", ec.message());

  safetensors::write((tmp / "model.safetensors").string(), model, {{"format", "pt"}});
  maybe_abort_after("model");
  safetensors::write((tmp / "optimizer.safetensors").string(), optimizer);
  maybe_abort_after("optimizer");
  write_text((tmp / "state.json").string(), state.to_json(true) + "\n");
  maybe_abort_after("state");
  fsync_path(tmp.string(), true);

  // Replacing a checkpoint of the same step: move the old one aside first (a directory cannot
  // be renamed over a non-empty one), so that one of the two is complete at every moment.
  fs::path old;
  if (fs::exists(final_path, ec)) {
    old = fs::path(dir) / str_cat(kOldPrefix, name, "-", ::getpid());
    fs::remove_all(old, ec);
    fs::rename(final_path, old, ec);
    KILN_CHECK(!ec, "checkpoint: cannot move the old ", final_path.string(),
               " aside: ", ec.message());
  }
  fs::rename(tmp, final_path, ec);
  KILN_CHECK(!ec, "checkpoint: cannot rename ", tmp.string(), " to ", final_path.string(), ": ",
             ec.message());
  fsync_path(dir, true);
  if (!old.empty()) fs::remove_all(old, ec);
  return final_path.string();
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  std::vector<CheckpointRef> all = list_checkpoints(dir);
  std::error_code ec;
  for (size_t i = 0; i + size_t(std::max<int64_t>(keep, 0)) < all.size(); ++i)
    fs::remove_all(all[i].path, ec);
}

void remove_partial_checkpoints(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> stale;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(kTmpPrefix, 0) == 0 || n.rfind(kOldPrefix, 0) == 0) stale.push_back(e.path());
  }
  for (const fs::path& p : stale) fs::remove_all(p, ec);
}

CheckpointData read_checkpoint(const std::string& path, bool with_optimizer) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(path, ec), path, ": no such checkpoint directory");
  std::vector<std::string> files = {"model.safetensors", "state.json"};
  if (with_optimizer) files.push_back("optimizer.safetensors");
  for (const std::string& f : files)
    KILN_CHECK(fs::is_regular_file(fs::path(path) / f, ec), path, ": not a complete checkpoint (",
               f, " is missing)");

  CheckpointData d;
  const std::string state_path = (fs::path(path) / "state.json").string();
  d.state = Config::from_json(read_text(state_path), state_path);
  KILN_CHECK(d.state.is_table() && d.state.has("step") &&
                 d.state.at("step").type() == Config::Type::integer,
             state_path,
             ": corrupt checkpoint state (expected an object with an integer \"step\")");
  d.model = safetensors::read((fs::path(path) / "model.safetensors").string()).tensors;
  if (with_optimizer)
    d.optimizer = safetensors::read((fs::path(path) / "optimizer.safetensors").string()).tensors;
  return d;
}

}  // namespace kiln::train
