#pragma once
// CR_HD marks functions that backends call from device code (CUDA kernels, Kokkos
// lambdas). Policies written to the policy concept use it on their maths.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define CR_HD __host__ __device__
#else
#define CR_HD
#endif
