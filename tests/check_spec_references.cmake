# The contract is docs/spec.md, and "section N" means its section N. This script
# (cmake -DSOURCE_DIR=<repository> -P check_spec_references.cmake) fails, naming
# file:line, where
#   - a reference such as `docs/spec.md section 7`, `spec.md sections 3-4`,
#     `spec.md sections 2, 4 and 6`, `spec.md §3` or `docs/spec.md §3.4` names a
#     section that docs/spec.md does not have (its headings `## N. Title`), or where
#     docs/spec.md's own "section N" does;
#   - a file still cites a contract outside the repository (the upper-case name that
#     the contract had there, or a path into a shared folder).
# Optional: -DSPEC=<file> checks against another spec file (used to test this script).
cmake_minimum_required(VERSION 3.21)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<repository> -P check_spec_references.cmake")
endif()
if(NOT SPEC)
  set(SPEC ${SOURCE_DIR}/docs/spec.md)
endif()
if(NOT EXISTS ${SPEC})
  message(FATAL_ERROR "${SPEC} does not exist")
endif()

file(STRINGS ${SPEC} _headings REGEX "^## [0-9]+\\. ")
set(_sections "")
foreach(_h IN LISTS _headings)
  string(REGEX REPLACE "^## ([0-9]+)\\..*" "\\1" _n "${_h}")
  list(APPEND _sections ${_n})
endforeach()
if(NOT _sections)
  message(FATAL_ERROR "${SPEC}: no numbered sections (## N. Title)")
endif()

set(_parts include reference testing kokkos cuda tools tests proptests examples docs bench python scripts)
set(_files "")
foreach(_p IN LISTS _parts)
  if(IS_DIRECTORY ${SOURCE_DIR}/${_p})
    file(GLOB_RECURSE _found LIST_DIRECTORIES false RELATIVE ${SOURCE_DIR}
         ${SOURCE_DIR}/${_p}/*.hpp ${SOURCE_DIR}/${_p}/*.cpp ${SOURCE_DIR}/${_p}/*.h ${SOURCE_DIR}/${_p}/*.cuh
         ${SOURCE_DIR}/${_p}/*.cu ${SOURCE_DIR}/${_p}/*.md ${SOURCE_DIR}/${_p}/*.txt ${SOURCE_DIR}/${_p}/*.cmake
         ${SOURCE_DIR}/${_p}/*.in ${SOURCE_DIR}/${_p}/*.py ${SOURCE_DIR}/${_p}/*.sh)
    list(APPEND _files ${_found})
  endif()
endforeach()
list(APPEND _files CMakeLists.txt README.md)

# Spelled in pieces so that this file does not match itself.
set(_upper "SP")
string(APPEND _upper "EC")
set(_outside "(${_upper} (section|§|[0-9])|${_upper}\\.md|shared/${_upper})")
set(_ref "spec\\.md (sections? |§)[0-9]+(\\.[0-9]+)?(( ?- ?|, | and )[0-9]+)*")

set(_errors "")
set(_count 0)
foreach(_f IN LISTS _files)
  if(NOT EXISTS ${SOURCE_DIR}/${_f})
    continue()
  endif()
  file(STRINGS ${SOURCE_DIR}/${_f} _lines)
  set(_line 0)
  foreach(_text IN LISTS _lines)
    math(EXPR _line "${_line} + 1")
    if(_text MATCHES "${_outside}")
      string(APPEND _errors "${_f}:${_line}: cites a contract outside the repository (\"${CMAKE_MATCH_1}\"); cite docs/spec.md\n")
    endif()
    set(_refs "")
    string(REGEX MATCHALL "${_ref}" _refs "${_text}")
    if(_f STREQUAL "docs/spec.md")  # the spec's own "see section N"
      string(REGEX MATCHALL "[Ss]ections? [0-9]+(( ?- ?|, | and )[0-9]+)*" _own "${_text}")
      list(APPEND _refs ${_own})
    endif()
    foreach(_r IN LISTS _refs)
      math(EXPR _count "${_count} + 1")
      string(REGEX REPLACE "^.*(sections? |§)" "" _nums "${_r}")
      string(REGEX REPLACE "\\.[0-9]+" "" _nums "${_nums}")   # §3.4: step 4 of section 3
      string(REGEX MATCHALL "[0-9]+" _nums "${_nums}")
      foreach(_n IN LISTS _nums)
        if(NOT _n IN_LIST _sections)
          string(APPEND _errors "${_f}:${_line}: \"${_r}\": docs/spec.md has no section ${_n}\n")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()

if(_errors)
  message(NOTICE "${_errors}")  # unwrapped, one file:line per line
  message(FATAL_ERROR "bad spec references (above)")
endif()
list(LENGTH _files _nfiles)
message(STATUS "spec references: ${_count} references in ${_nfiles} files, all name a section of ${SPEC}")
