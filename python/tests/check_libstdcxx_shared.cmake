# The ops' library must load libstdc++ as a shared library where Torch does (see
# python/CMakeLists.txt); where Torch itself carries a static libstdc++ (pip's wheels) the
# check does not apply and says SKIPPED:
#   cmake -DREADELF=readelf -DLIBRARY=libcoreroute_torch.so [-DTORCH_LIBRARY=libtorch_cpu.so] -P check_libstdcxx_shared.cmake
if(NOT READELF)
  find_program(READELF readelf)
endif()
if(NOT READELF)
  message(FATAL_ERROR "check_libstdcxx_shared: no readelf found to read ${LIBRARY}")
endif()
set(_needs_libstdcxx "NEEDED[^\n]*\\[libstdc\\+\\+\\.so")
if(TORCH_LIBRARY)
  execute_process(COMMAND ${READELF} -d ${TORCH_LIBRARY} OUTPUT_VARIABLE _torch_dynamic)
  if(NOT _torch_dynamic MATCHES "${_needs_libstdcxx}")
    message("SKIPPED: ${TORCH_LIBRARY} does not load libstdc++ as a shared library (it carries its own)")
    return()
  endif()
endif()
execute_process(COMMAND ${READELF} -d ${LIBRARY} OUTPUT_VARIABLE _dynamic RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "check_libstdcxx_shared: ${READELF} -d ${LIBRARY} failed (${_rc})")
endif()
if(NOT _dynamic MATCHES "${_needs_libstdcxx}")
  message(FATAL_ERROR "check_libstdcxx_shared: ${LIBRARY} does not load libstdc++ as a shared library "
                      "(it would carry a second copy of libstdc++); its dynamic section:\n${_dynamic}")
endif()
message(STATUS "check_libstdcxx_shared: ${LIBRARY} loads libstdc++ shared")
