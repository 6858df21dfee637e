# coreroute_add_policy_tests(<target> PREFIX <prefix> [VARIANTS <v>...] [PROPERTIES "<p>..."])
#
# One ctest test per policy that `<target> --list` prints, i.e. per built-in policy
# registered in include/coreroute/builtin_policies.hpp (plus any the program adds):
# test <prefix><name> runs `<target> <name>`, or with VARIANTS, test
# <prefix><name>_<v> runs `<target> <name> <v>` for each. The list is written after
# each build of <target> and read by ctest, so a newly registered policy gets its
# tests with no edit here. Before the first build a placeholder test fails, saying so.
set(_coreroute_policy_tests_script ${CMAKE_CURRENT_LIST_DIR}/coreroute_discover_policy_tests.cmake
    CACHE INTERNAL "the script coreroute_add_policy_tests runs")

function(coreroute_add_policy_tests target)
  cmake_parse_arguments(A "" "PREFIX;PROPERTIES" "VARIANTS" ${ARGN})
  set(tests ${CMAKE_CURRENT_BINARY_DIR}/${target}_policy_tests.cmake)
  string(REPLACE ";" "," variants "${A_VARIANTS}")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:${target}> -DOUT=${tests} -DPREFIX=${A_PREFIX}
            -DVARIANTS=${variants} "-DPROPERTIES=${A_PROPERTIES}" -P ${_coreroute_policy_tests_script}
    COMMENT "Listing the per-policy tests of ${target}" VERBATIM)
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_policy_tests_include.cmake)
  file(WRITE ${include_file}
    "if(EXISTS \"${tests}\")\n  include(\"${tests}\")\nelse()\n"
    "  add_test(${A_PREFIX}NOT_BUILT \"${CMAKE_COMMAND}\" -E echo \"build ${target} first: it lists its tests\")\n"
    "  set_tests_properties(${A_PREFIX}NOT_BUILT PROPERTIES WILL_FAIL ON)\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
