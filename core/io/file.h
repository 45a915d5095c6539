// Whole-file writes that a reader never sees half done.
#pragma once

#include <filesystem>
#include <string_view>

namespace kiln::io {

/// Writes text to path through a temporary file beside it (path.tmp<pid>), renamed over path
/// once complete: a crash or a concurrent reader sees the old file or the new one, never a
/// mixture. Throws kiln::Error naming the file when a write or the rename fails.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace kiln::io
