// Everything a kiln program uses from the core: tensors, autograd and ops.
#pragma once

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/base/threads.h"
#include "core/ops/ops.h"
#include "core/tensor/allocator.h"
#include "core/tensor/factory.h"
#include "core/tensor/random.h"
#include "core/tensor/tensor.h"
