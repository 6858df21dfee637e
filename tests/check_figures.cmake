# docs_figures: docs/figures/*.svg and sweep_table.md (also the sweep-table block of
# docs/algorithms.md) are what docs/figures/make_figures.py makes from the
# checked-in data (the library's output in docs/figures/data/). Regenerates them into a
# build folder and compares. Exits with "SKIP" (ctest SKIP_REGULAR_EXPRESSION) when
# Debian's /usr/bin/python3 is missing.
if(NOT EXISTS /usr/bin/python3)
  message("SKIP: /usr/bin/python3 not found")
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND /usr/bin/python3 ${SOURCE_DIR}/docs/figures/make_figures.py ${WORK_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make_figures.py failed: ${rc}")
endif()
set(bad "")
foreach(f scores.svg votes.svg t_vs_n.svg pareto.svg sweep_table.md)
  file(READ ${WORK_DIR}/${f} made)
  file(READ ${SOURCE_DIR}/docs/figures/${f} kept)
  if(NOT made STREQUAL kept)
    list(APPEND bad ${f})
  endif()
endforeach()
# The measured table of "which policy when" is the one between the sweep-table markers.
file(READ ${SOURCE_DIR}/docs/algorithms.md doc)
file(READ ${WORK_DIR}/sweep_table.md table)
string(FIND "${doc}" "<!-- generated: sweep-table -->\n\n${table}\n<!-- end generated -->" at)
if(at LESS 0)
  list(APPEND bad "docs/algorithms.md's sweep-table block")
endif()
if(bad)
  message(FATAL_ERROR "docs/figures: ${bad} differ from what make_figures.py makes; rerun /usr/bin/python3 docs/figures/make_figures.py")
endif()
message("docs/figures: the 4 figures and the sweep table match their data")
