# Included by coreroute-config.cmake when the testing kit was installed: finds
# rapidcheck and imports coreroute::testing.
include(CMakeFindDependencyMacro)
find_dependency(rapidcheck)
include("${CMAKE_CURRENT_LIST_DIR}/coreroute-testing-targets.cmake")
