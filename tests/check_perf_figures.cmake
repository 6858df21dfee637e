# perf_figures: the measured figures of the docs are what scripts/perf_figures.py makes from
# the result files in bench/results/, and no measured figure stands outside its generated
# blocks. With -DTAMPER=block or -DTAMPER=figure it checks a copy of docs/performance.md
# with one generated line changed, or with a figure added outside the blocks, in WORK_DIR
# (the self-tests: the check must fail there). Exits with "SKIP" (ctest
# SKIP_REGULAR_EXPRESSION) when Debian's /usr/bin/python3 is missing.
if(NOT EXISTS /usr/bin/python3)
  message("SKIP: /usr/bin/python3 not found")
  return()
endif()
set(docs "")
if(TAMPER)
  file(READ ${SOURCE_DIR}/docs/performance.md doc)
  if(TAMPER STREQUAL "block")
    string(REGEX REPLACE "(<!-- measured: route-table [^>]*-->\n)" "\\1| tampered |\n" doc "${doc}")
  else()
    string(APPEND doc "\nThe kernel takes 1.25 us.\n")
  endif()
  file(MAKE_DIRECTORY ${WORK_DIR})
  file(WRITE ${WORK_DIR}/performance.md "${doc}")
  set(docs ${WORK_DIR}/performance.md)
endif()
execute_process(COMMAND /usr/bin/python3 ${SOURCE_DIR}/scripts/perf_figures.py --check ${docs} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "perf_figures.py --check failed: ${rc}")
endif()
