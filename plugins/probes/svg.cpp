#include "plugins/probes/svg.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "core/base/error.h"

namespace kiln::probes {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_length(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  return n;
}

std::string fmt(double v, const char* f = "%.3g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Colour of t in [0, 1]: white to blue, or (diverging) blue - white - red.
std::string colour(double t, bool diverging) {
  t = std::clamp(t, 0.0, 1.0);
  int r, g, b;
  if (!diverging) {
    r = int(255 - t * (255 - 33));
    g = int(255 - t * (255 - 102));
    b = int(255 - t * (255 - 172));
  } else if (t < 0.5) {  // blue (33, 102, 172) at 0 to white at 0.5
    const double u = t / 0.5;
    r = int(33 + u * (255 - 33));
    g = int(102 + u * (255 - 102));
    b = int(172 + u * (255 - 172));
  } else {  // white to red (178, 24, 43) at 1
    const double u = (t - 0.5) / 0.5;
    r = int(255 - u * (255 - 178));
    g = int(255 - u * (255 - 24));
    b = int(255 - u * (255 - 43));
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_length(s, i);
    if (n == 0 || c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s, i, n);
    } else if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '"') {
      out += "&quot;";
    } else if (c == '\'') {
      out += "&apos;";
    } else {
      out += char(c);
    }
    i += n;
  }
  return out;
}

std::string heatmap_svg(const std::vector<Heatmap>& panels, const HeatmapStyle& style) {
  KILN_CHECK(!panels.empty(), "heatmap_svg: no panel");
  double lo = style.vmin, hi = style.vmax;
  if (std::isnan(lo) || std::isnan(hi)) {
    double dlo = std::numeric_limits<double>::infinity(), dhi = -dlo;
    for (const Heatmap& p : panels)
      for (double v : p.values)
        if (std::isfinite(v)) dlo = std::min(dlo, v), dhi = std::max(dhi, v);
    if (!std::isfinite(dlo)) dlo = 0, dhi = 1;
    if (style.diverging) {
      const double m = std::max({std::abs(dlo), std::abs(dhi), 1e-12});
      dlo = -m, dhi = m;
    }
    if (std::isnan(lo)) lo = dlo;
    if (std::isnan(hi)) hi = dhi;
  }
  if (hi <= lo) hi = lo + 1e-12;

  const double cell = 22, label_w = 90, label_h = 70, gap = 30, title_h = 40, bar_w = 16;
  size_t max_rows = 0;
  double x = label_w;
  std::vector<double> x0;
  for (const Heatmap& p : panels) {
    const size_t R = p.row_labels.size(), C = p.col_labels.size();
    KILN_CHECK(p.values.size() == R * C, "heatmap_svg: panel \"", p.title, "\" has ",
               p.values.size(), " values for ", R, " rows x ", C, " columns");
    max_rows = std::max(max_rows, R);
    x0.push_back(x);
    x += double(C) * cell + gap + label_w;
  }
  const double grid_top = title_h + 20;
  const double bar_x = x - label_w + 10, width = bar_x + bar_w + 70;
  const double grid_h = double(max_rows) * cell, bar_h = std::max(grid_h, 120.0);
  const double height = grid_top + std::max(grid_h + label_h, bar_h) + 30;

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt(width, "%.0f") + "\" height=\"" +
       fmt(height, "%.0f") + "\" viewBox=\"0 0 " + fmt(width, "%.0f") + " " + fmt(height, "%.0f") +
       "\" font-family=\"sans-serif\" font-size=\"10\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt(label_w, "%.0f") + "\" y=\"20\" font-size=\"14\">" +
       xml_escape(style.title) + "</text>\n";
  for (size_t k = 0; k < panels.size(); ++k) {
    const Heatmap& p = panels[k];
    const size_t R = p.row_labels.size(), C = p.col_labels.size();
    const bool annotate = int64_t(R * C) <= style.max_annotated_cells;
    const double px = x0[k];
    s += "<g>\n<text x=\"" + fmt(px, "%.1f") + "\" y=\"" + fmt(grid_top - 8, "%.1f") +
         "\" font-size=\"12\">" + xml_escape(p.title) + "</text>\n";
    for (size_t r = 0; r < R; ++r) {
      const double y = grid_top + double(r) * cell;
      s += "<text x=\"" + fmt(px - 4, "%.1f") + "\" y=\"" + fmt(y + cell * 0.65, "%.1f") +
           "\" text-anchor=\"end\">" + xml_escape(p.row_labels[r]) + "</text>\n";
      for (size_t c = 0; c < C; ++c) {
        const double v = p.values[r * C + c];
        const double cx = px + double(c) * cell;
        const std::string fill =
            std::isnan(v) ? "#dddddd" : colour((v - lo) / (hi - lo), style.diverging);
        s += "<rect x=\"" + fmt(cx, "%.1f") + "\" y=\"" + fmt(y, "%.1f") + "\" width=\"" +
             fmt(cell, "%.0f") + "\" height=\"" + fmt(cell, "%.0f") + "\" fill=\"" + fill +
             "\"><title>" +
             xml_escape(p.row_labels[r] + ", " + p.col_labels[c] + ": " + fmt(v, "%.4g")) +
             "</title></rect>\n";
        if (annotate && !std::isnan(v)) {
          const double t = (v - lo) / (hi - lo);
          const bool dark = style.diverging ? std::abs(t - 0.5) > 0.35 : t > 0.6;
          s += "<text x=\"" + fmt(cx + cell / 2, "%.1f") + "\" y=\"" +
               fmt(y + cell * 0.62, "%.1f") + "\" text-anchor=\"middle\" font-size=\"7\" fill=\"" +
               (dark ? "white" : "black") + "\">" + xml_escape(fmt(v, "%.2g")) + "</text>\n";
        }
      }
    }
    for (size_t c = 0; c < C; ++c) {
      const double cx = px + double(c) * cell + cell * 0.6, cy = grid_top + double(R) * cell + 6;
      s += "<text x=\"" + fmt(cx, "%.1f") + "\" y=\"" + fmt(cy, "%.1f") +
           "\" transform=\"rotate(60 " + fmt(cx, "%.1f") + " " + fmt(cy, "%.1f") + ")\">" +
           xml_escape(p.col_labels[c]) + "</text>\n";
    }
    s += "<text x=\"" + fmt(px + double(C) * cell / 2, "%.1f") + "\" y=\"" +
         fmt(height - 8, "%.1f") + "\" text-anchor=\"middle\" font-size=\"11\">" +
         xml_escape(p.col_axis) + "</text>\n";
    s += "<text x=\"12\" y=\"" + fmt(grid_top + grid_h / 2, "%.1f") +
         "\" font-size=\"11\" transform=\"rotate(-90 12 " + fmt(grid_top + grid_h / 2, "%.1f") +
         ")\" text-anchor=\"middle\">" + xml_escape(p.row_axis) + "</text>\n</g>\n";
  }
  // The colour bar: 20 steps from hi (top) to lo (bottom), with five values.
  const int steps = 20;
  for (int i = 0; i < steps; ++i) {
    const double t = 1.0 - (i + 0.5) / steps;
    s += "<rect x=\"" + fmt(bar_x, "%.1f") + "\" y=\"" + fmt(grid_top + bar_h * i / steps, "%.2f") +
         "\" width=\"" + fmt(bar_w, "%.0f") + "\" height=\"" + fmt(bar_h / steps + 0.5, "%.2f") +
         "\" fill=\"" + colour(t, style.diverging) + "\"/>\n";
  }
  for (int i = 0; i <= 4; ++i) {
    const double v = hi - (hi - lo) * i / 4.0, y = grid_top + bar_h * i / 4.0;
    s += "<text x=\"" + fmt(bar_x + bar_w + 4, "%.1f") + "\" y=\"" + fmt(y + 3, "%.1f") + "\">" +
         xml_escape(fmt(v, "%.3g")) + "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  KILN_CHECK(out, path, ": cannot write");
  out << text;
  out.flush();
  KILN_CHECK(out, path, ": write failed");
}

}  // namespace kiln::probes
