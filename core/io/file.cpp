#include "core/io/file.h"

#include <unistd.h>

#include <fstream>
#include <string>
#include <system_error>

#include "core/base/error.h"

namespace kiln::io {

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  std::filesystem::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid());  // two processes never share a temporary name
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    KILN_CHECK(out, tmp.string(), ": cannot write");
    out.write(text.data(), std::streamsize(text.size()));
    out.flush();
    KILN_CHECK(out, tmp.string(), ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
  }
  KILN_CHECK(!ec, "cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message());
}

}  // namespace kiln::io
