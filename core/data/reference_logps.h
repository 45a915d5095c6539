// Reference log-probs stored with preference data: a reference model's summed response
// log-probs of every pair, computed once (`kiln data reference-logps`) so that dpo need not
// keep the reference model in memory. JSON lines, line i for pair i (the train split's pairs,
// then the val split's, in their stored order): {"chosen": logp, "rejected": logp}, written
// with 17 significant digits so that they read back exactly.
#pragma once

#include <string>
#include <vector>

namespace kiln::data {

/// Writes the file (through a temporary file and a rename: never half written).
void write_reference_logps(const std::string& path, const std::vector<double>& chosen,
                           const std::vector<double>& rejected);

/// Reads it back: chosen, rejected for each pair in turn (2 numbers a line). `where` prefixes
/// errors, which name the file and line.
std::vector<double> read_reference_logps(const std::string& path, const std::string& where = "");

}  // namespace kiln::data
