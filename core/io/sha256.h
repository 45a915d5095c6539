// SHA-256 (FIPS 180-4): results.json names the exact data an evaluator read by it, and the
// evaluation request cache keys its answers by it.
#pragma once

#include <string>
#include <string_view>

namespace kiln::io {

/// The lowercase hex SHA-256 of bytes.
std::string sha256_hex(std::string_view bytes);
/// The lowercase hex SHA-256 of a file's bytes; throws kiln::Error when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace kiln::io
