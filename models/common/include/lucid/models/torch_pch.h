// Precompiled header for every LibTorch translation unit (one include costs ~40 s otherwise).
#pragma once
#include <torch/torch.h>
