#include "core/eval/evaluator.h"

namespace kiln::eval {

Evaluator::~Evaluator() = default;

}  // namespace kiln::eval
