// Shapes, strides and the index arithmetic shared by views and kernels.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace kiln {

/// A list of sizes (or strides, in elements). A distinct type so that it prints as [2, 3].
struct Shape : std::vector<int64_t> {
  using std::vector<int64_t>::vector;
  Shape() = default;
  Shape(const std::vector<int64_t>& v) : std::vector<int64_t>(v) {}
};
using Strides = Shape;

std::ostream& operator<<(std::ostream& os, const Shape& s);
std::string shape_str(const Shape& s);

/// Product of the sizes (1 for a 0-d shape).
int64_t shape_numel(const Shape& s);
/// Row-major strides for a shape.
Strides contiguous_strides(const Shape& s);
/// Maps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
/// The shape two operands broadcast to (numpy rules); throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace kiln
