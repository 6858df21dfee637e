# Runs one coreroute command (ARGS, '|'-separated) in WORK_DIR and checks it by MODE:
#   error: exit status 1 or 2, stderr exactly one line starting "coreroute: error: "
#   help:  exit status 0, stdout has a usage text
#   ok:    exit status 0
# With EXPECT set, stdout must also match that regular expression.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
string(REPLACE "|" ";" _args "${ARGS}")
execute_process(COMMAND ${EXE} ${_args} WORKING_DIRECTORY ${WORK_DIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
set(_what "coreroute ${_args}\n  exit: ${rc}\n  stdout: ${out}\n  stderr: ${err}")
if(MODE STREQUAL "error")
  if(NOT (rc EQUAL 1 OR rc EQUAL 2))
    message(FATAL_ERROR "expected exit status 1 or 2 (a crash or signal is not an error report):\n${_what}")
  endif()
  string(REGEX MATCHALL "\n" _newlines "${err}")
  list(LENGTH _newlines _lines)
  if(NOT _lines EQUAL 1 OR NOT err MATCHES "^coreroute: error: [^\n]+\n$")
    message(FATAL_ERROR "expected exactly one line 'coreroute: error: ...' on stderr:\n${_what}")
  endif()
elseif(MODE STREQUAL "help")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "Usage:" OR NOT err STREQUAL "")
    message(FATAL_ERROR "expected a usage text and exit status 0:\n${_what}")
  endif()
elseif(MODE STREQUAL "ok")
  if(NOT rc EQUAL 0 OR NOT err STREQUAL "")
    message(FATAL_ERROR "expected success with nothing on stderr:\n${_what}")
  endif()
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
if(DEFINED EXPECT AND NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "expected stdout to match '${EXPECT}':\n${_what}")
endif()
