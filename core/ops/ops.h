// The op API: free functions in kiln::ops, each with forward and (where it makes sense) backward.
#pragma once

#include "core/ops/attention.h"
#include "core/ops/autocast.h"
#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/linalg.h"
#include "core/ops/loss.h"
#include "core/ops/norm.h"
#include "core/ops/reduce.h"
#include "core/ops/view.h"
