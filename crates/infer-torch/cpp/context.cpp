// infer's bridge to libtorch's global context (at::globalContext()): whether float32 matmuls
// (cuBLAS) and convolutions (cuDNN) on CUDA may use TF32 tensor cores. The flags are
// process-wide; on a machine without CUDA they are set and read back all the same, and nothing
// uses them.
//
// The legacy setters are used on purpose: in torch 2.11 each of them also sets the matching
// entries of the newer per-backend precision table (setFloat32Precision), so the legacy getters
// read back consistent values (mixing the two APIs makes those getters throw).

#include <ATen/Context.h>

#include "common.h"

using infer_shim::fail;

extern "C" {

// Allows (allow != 0) or forbids TF32 for float32 cuBLAS matmuls and cuDNN convolutions.
// Returns 0, or 1 with *err set.
int infer_torch_set_tf32(int allow, char** err) {
  try {
    auto& context = at::globalContext();
    context.setAllowTF32CuBLAS(allow != 0);
    context.setAllowTF32CuDNN(allow != 0);
    return 0;
  }
  INFER_CATCH(err)
}

// Reads the flags back: *cublas and *cudnn are 1 where TF32 is allowed, else 0. Returns 0, or 1
// with *err set.
int infer_torch_tf32(int* cublas, int* cudnn, char** err) {
  try {
    const auto& context = at::globalContext();
    *cublas = context.allowTF32CuBLAS() ? 1 : 0;
    *cudnn = context.allowTF32CuDNN() ? 1 : 0;
    return 0;
  }
  INFER_CATCH(err)
}

} // extern "C"
