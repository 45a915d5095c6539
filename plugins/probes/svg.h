// SVG heatmaps: a grid of coloured cells with row and column labels (layers, positions, tokens),
// a title, and a colour bar with its values. Several panels (one per head) sit side by side
// and share one colour scale.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace kiln::probes {

struct Heatmap {
  std::string title;
  std::string row_axis, col_axis;  ///< axis titles ("layer", "position")
  std::vector<std::string> row_labels, col_labels;
  std::vector<double> values;  ///< rows x cols, row-major; NaN: an empty (grey) cell
};

struct HeatmapStyle {
  std::string title;  ///< above every panel
  /// Diverging blue-white-red centred at 0 (patching metrics, changes); else white to blue.
  bool diverging = false;
  /// The colour scale's ends; NaN: the data's extent (symmetric about 0 when diverging).
  double vmin = std::numeric_limits<double>::quiet_NaN();
  double vmax = std::numeric_limits<double>::quiet_NaN();
  /// Print each cell's value when the grid has at most this many cells.
  int max_annotated_cells = 300;
};

/// The SVG document (UTF-8; text escaped for XML, invalid UTF-8 bytes written as \xNN).
std::string heatmap_svg(const std::vector<Heatmap>& panels, const HeatmapStyle& style = {});
/// Writes text to a file (throws naming it on failure).
void write_file(const std::string& path, const std::string& text);
/// Text made safe for XML: &, <, >, quotes escaped; invalid UTF-8 bytes and control characters
/// written as \xNN.
std::string xml_escape(const std::string& s);

}  // namespace kiln::probes
