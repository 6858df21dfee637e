# The ops' library must load libstdc++ as a shared library (see python/CMakeLists.txt):
#   cmake -DREADELF=readelf -DLIBRARY=libcoreroute_torch.so -P check_libstdcxx_shared.cmake
if(NOT READELF)
  find_program(READELF readelf)
endif()
if(NOT READELF)
  message(FATAL_ERROR "check_libstdcxx_shared: no readelf found to read ${LIBRARY}")
endif()
execute_process(COMMAND ${READELF} -d ${LIBRARY} OUTPUT_VARIABLE _dynamic RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "check_libstdcxx_shared: ${READELF} -d ${LIBRARY} failed (${_rc})")
endif()
if(NOT _dynamic MATCHES "NEEDED[^\n]*\\[libstdc\\+\\+\\.so")
  message(FATAL_ERROR "check_libstdcxx_shared: ${LIBRARY} does not load libstdc++ as a shared library "
                      "(a static libstdc++ crashes the first error message); its dynamic section:\n${_dynamic}")
endif()
message(STATUS "check_libstdcxx_shared: ${LIBRARY} loads libstdc++ shared")
