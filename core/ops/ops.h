// The op API: free functions in kiln::ops, each with forward and (where it makes sense) backward.
#pragma once

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/view.h"
