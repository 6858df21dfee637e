# Included by coreroute-config.cmake when the CUDA backend was installed.
include(CMakeFindDependencyMacro)
find_dependency(CUDAToolkit)
include("${CMAKE_CURRENT_LIST_DIR}/coreroute-cuda-targets.cmake")
