# Each public header must compile on its own (no reliance on include order).
file(GLOB headers RELATIVE ${INCLUDE} ${INCLUDE}/memrun/*.hpp ${INCLUDE}/memrun/*.h)
foreach(h ${headers})
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/header_check.cc "#include <${h}>\n")
  execute_process(COMMAND ${CXX} -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I${INCLUDE}
                          ${CMAKE_CURRENT_BINARY_DIR}/header_check.cc
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${h} does not compile on its own:\n${err}")
  endif()
endforeach()
list(LENGTH headers n)
message(STATUS "${n} public headers compile on their own")
