// tools/histogram_png.h — a histogram drawn as a PNG (stb_image_write) for a person to look at.
#pragma once

#include <string>
#include <vector>

#include "imc/stats.h"

namespace raoq::tools {

// Bars of h.counts (grey), the values below/above the range as red bars at the edges, and red
// vertical lines at `marks` (values on the histogram's axis: the ADC clip limits). Throws
// raoq::Error naming the file when it cannot be written.
void write_histogram_png(const std::string& path, const imc::Histogram& h, const std::vector<double>& marks);

}  // namespace raoq::tools
