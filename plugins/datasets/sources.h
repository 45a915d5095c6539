// Finding and reading the files a dataset names: paths and globs, gzip.
#pragma once

#include <string>
#include <vector>

#include "core/registry/config.h"

namespace kiln::datasets {

/// The strings of a `path` parameter: one string or a list of strings (fails at the node
/// otherwise, or when empty).
std::vector<std::string> path_patterns(const Config& c);

/// The files a glob matches, sorted (folders left out); empty when none.
std::vector<std::string> glob_files(const std::string& pattern);

/// Expands patterns in order: a pattern with *, ? or [ is a glob (its matches sorted); any
/// other is a file that must exist. `where` ("spec.lua:3: data.path: ") prefixes errors: a
/// missing file, a directory, a glob that matches nothing.
std::vector<std::string> expand_paths(const std::vector<std::string>& patterns,
                                      const std::string& where);

/// The whole file, decompressed when its name ends in .gz. Throws naming the file when it
/// cannot be read, is corrupt, or is empty.
std::string read_file(const std::string& path, const std::string& where);

}  // namespace kiln::datasets
