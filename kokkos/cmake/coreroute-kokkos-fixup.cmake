# Repairs a Kokkos::kokkos target that points at directories that do not exist.
#
# Debian's Trilinos build of Kokkos 3.4 (package libtrilinos-kokkos-dev) exports
# Kokkos::kokkos with INTERFACE_INCLUDE_DIRECTORIES <prefix>/lib/include, which does not
# exist (the headers are in <prefix>/include/trilinos, the libraries are
# libtrilinos_kokkoscore and friends, imported correctly), and with a
# "-DKOKKOS_DEPENDENCE" item among its link libraries, which belongs to compile flags.
# A Kokkos whose target is sound (any official install, >= 3.4) is left untouched.
function(coreroute_fix_kokkos)
  if(NOT TARGET Kokkos::kokkos)
    return()
  endif()
  get_target_property(_imported Kokkos::kokkos IMPORTED)
  if(NOT _imported)
    return()  # built in this project (add_subdirectory): its paths are its own
  endif()
  get_target_property(_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  set(_kept)
  set(_missing)
  if(_inc)
    foreach(_d IN LISTS _inc)
      if(_d MATCHES "^\\$<" OR EXISTS "${_d}")
        list(APPEND _kept "${_d}")
      else()
        list(APPEND _missing "${_d}")
      endif()
    endforeach()
  endif()
  if(_missing)
    find_path(COREROUTE_KOKKOS_INCLUDE_DIR Kokkos_Core.hpp
      HINTS ${Kokkos_INCLUDE_DIRS} "${Kokkos_INSTALL_DIR}/include"
      PATH_SUFFIXES trilinos
      DOC "Directory of Kokkos_Core.hpp when the Kokkos::kokkos target names a missing one")
    if(NOT COREROUTE_KOKKOS_INCLUDE_DIR)
      message(FATAL_ERROR "coreroute: Kokkos::kokkos names missing include directories (${_missing}) and "
                          "Kokkos_Core.hpp was not found; set COREROUTE_KOKKOS_INCLUDE_DIR or Kokkos_ROOT")
    endif()
    list(APPEND _kept "${COREROUTE_KOKKOS_INCLUDE_DIR}")
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
    message(STATUS "coreroute: Kokkos::kokkos include directories ${_missing} do not exist; "
                   "using ${COREROUTE_KOKKOS_INCLUDE_DIR}")
  endif()
  get_target_property(_libs Kokkos::kokkos INTERFACE_LINK_LIBRARIES)
  set(_clean)
  set(_defs)
  if(_libs)
    foreach(_l IN LISTS _libs)
      if(_l MATCHES "^-D(.+)$")
        list(APPEND _defs "${CMAKE_MATCH_1}")
      else()
        list(APPEND _clean "${_l}")
      endif()
    endforeach()
  endif()
  if(_defs)
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_LINK_LIBRARIES "${_clean}")
    set_property(TARGET Kokkos::kokkos APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS ${_defs})
  endif()
endfunction()
