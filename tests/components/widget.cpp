#include "tests/plugins/widget.h"

namespace kiln::testing {
Widget::~Widget() = default;
}
