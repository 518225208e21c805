# The layering is enforced by the compiler: a layer's view of src/ holds only
# its own folder and those below it (src/CMakeLists.txt, memrun_view). This
# compiles one include against a view and expects it to work or to fail.
# -DCXX=compiler -DVIEWS=build/src/layers -DINCLUDE=include -DWORK=dir -DCASES="layer:header:ok;layer:header:fail;..."
foreach(case ${CASES})
  string(REPLACE ":" ";" parts "${case}")
  list(GET parts 0 layer)
  list(GET parts 1 header)
  list(GET parts 2 expect)
  file(WRITE ${WORK}/layer_probe.cc "#include \"${header}\"\n")
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${VIEWS}/${layer} -I${INCLUDE} ${EXTRA}
                          ${WORK}/layer_probe.cc
                  RESULT_VARIABLE failed OUTPUT_QUIET ERROR_VARIABLE err)
  if(expect STREQUAL "ok" AND failed)
    message(FATAL_ERROR "${layer} cannot include ${header}, which is in or below it:\n${err}")
  elseif(expect STREQUAL "fail" AND NOT failed)
    message(FATAL_ERROR "${layer} can include ${header}, which is above it: the layering is not enforced")
  elseif(expect STREQUAL "fail" AND NOT err MATCHES "No such file")
    message(FATAL_ERROR "${layer} including ${header} failed for another reason than its absence:\n${err}")
  endif()
endforeach()
message(STATUS "every layer sees its own folder and those below, and nothing above")
