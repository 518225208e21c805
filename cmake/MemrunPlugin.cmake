# memrun_add_plugin(<name> SOURCES <src>...)
#
# Builds a memrun handler plugin: a MODULE library (dlopen-able, never linked
# against) that sees only the plugin headers, hides every symbol except the
# entry function (declared with MEMRUN_PLUGIN_EXPORT), and fails to link if it
# leaves a symbol undefined, so it can never depend on host symbols.
function(memrun_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "memrun_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  if(TARGET memrun::plugin_api)
    target_link_libraries(${name} PRIVATE memrun::plugin_api ${ARG_LIBRARIES})
  else()
    target_link_libraries(${name} PRIVATE plugin_api ${ARG_LIBRARIES})
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${name} PRIVATE "LINKER:-z,defs")
endfunction()
