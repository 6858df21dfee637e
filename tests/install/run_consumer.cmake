# Driver of the package tests (cmake -P): MODE=install installs the build tree
# COREROUTE_BINARY_DIR into a fresh prefix and builds the consumer with
# find_package; MODE=subdirectory builds it with add_subdirectory of the sources.
# Then runs the consumer. Generator and compilers are those of the outer build; with
# CUDA_COMPILER set it also builds the CUDA consumer (run by its own test: it needs a GPU).
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGV}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(config_args)
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
set(gen_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(GENERATOR_PLATFORM)
  list(APPEND gen_args -A ${GENERATOR_PLATFORM})
endif()
if(GENERATOR_TOOLSET)
  list(APPEND gen_args -T ${GENERATOR_TOOLSET})
endif()
if(MAKE_PROGRAM)
  list(APPEND gen_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(CONFIG)
  list(APPEND gen_args -DCMAKE_BUILD_TYPE=${CONFIG})
endif()
if(CUDA_COMPILER)
  list(APPEND gen_args -DCONSUMER_CUDA=ON -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER}
       -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES})
endif()

if(MODE STREQUAL "install")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${COREROUTE_BINARY_DIR} --prefix ${prefix} ${config_args})
  set(mode_args -DCMAKE_PREFIX_PATH=${prefix} -DEXPECTED_PREFIX=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(MODE STREQUAL "subdirectory")
  set(mode_args -DCOREROUTE_SOURCE_DIR=${COREROUTE_SOURCE_DIR})
else()
  message(FATAL_ERROR "MODE must be install or subdirectory, not '${MODE}'")
endif()

run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build ${gen_args} ${mode_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build ${config_args})
run(${WORK_DIR}/build/bin/consumer)
