#include "core/data/dataset.h"
#include "core/data/tokenizer.h"

namespace kiln::data {

Tokenizer::~Tokenizer() = default;
Dataset::~Dataset() = default;

const char* split_name(Split s) { return s == Split::train ? "train" : "val"; }

}  // namespace kiln::data
