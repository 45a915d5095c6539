// The safetensors file format (huggingface/safetensors), read and written exactly:
//
//   [8 bytes]  N, the header length, a little-endian u64
//   [N bytes]  a JSON object, padded with spaces to a multiple of 8:
//              {"__metadata__": {"k": "v", ...},
//               "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   [rest]     the data: each tensor row-major, little-endian, at [begin, end) counted from
//              the first byte after the header. The tensors cover the data exactly: no gaps,
//              no overlaps.
//
// dtypes: F64 F32 BF16 F16 I32 I64 U8 BOOL. The writer lays tensors out by decreasing element
// size, then name (as the Python library does), so every tensor of a file kiln wrote is
// aligned for its type in the mapping.
#pragma once

#include <map>
#include <string>

#include "core/tensor/tensor.h"

namespace kiln::safetensors {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

struct File {
  TensorMap tensors;
  Metadata metadata;
};

/// Writes the tensors (any device, any layout: they are copied out row-major) and the metadata
/// to `path`. The file is written under a temporary name in the same folder, flushed to disk
/// and renamed, so `path` is either the old file or the complete new one, never half of one.
void write(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});

/// Reads a file by memory-mapping it. The tensors share the mapping (which stays alive as long
/// as any of them does); the mapping is private copy-on-write, so writing into a tensor changes
/// this process's copy only, never the file. A tensor whose offset is not aligned for its
/// dtype (possible in files from elsewhere) is copied into its own memory instead.
/// Throws kiln::Error naming the file and the tensor on any departure from the format.
File read(const std::string& path);

/// The format's name for a dtype ("F32", "BF16", "BOOL", ...) and its inverse (throws on an
/// unknown name).
const char* dtype_to_string(DType dtype);
DType dtype_from_string(const std::string& name);

}  // namespace kiln::safetensors
