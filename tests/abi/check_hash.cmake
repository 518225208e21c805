# Fails when plugin.h's declarations changed but MEMRUN_ABI_MAJOR/MINOR did
# not (or the lock was not updated with the bump). The lock holds
# "MAJOR.MINOR SHA256" of the declarations (abi_hash.cmake): comments are free.
include(${CMAKE_CURRENT_LIST_DIR}/abi_hash.cmake)
memrun_abi_hash(${HEADER} ${CC} actual)
file(READ ${HEADER} text)
string(REGEX MATCH "#define MEMRUN_ABI_MAJOR ([0-9]+)" _ "${text}")
set(major ${CMAKE_MATCH_1})
string(REGEX MATCH "#define MEMRUN_ABI_MINOR ([0-9]+)" _ "${text}")
set(minor ${CMAKE_MATCH_1})
file(STRINGS ${LOCK} lock LIMIT_COUNT 1 REGEX "^[0-9]")
separate_arguments(lock)
list(GET lock 0 locked_version)
list(GET lock 1 locked_hash)
if(NOT "${major}.${minor}" STREQUAL "${locked_version}")
  message(FATAL_ERROR "plugin.h says ABI ${major}.${minor} but ${LOCK} records ${locked_version}: "
                      "update the lock to '${major}.${minor} ${actual}' together with the bump")
endif()
if(NOT actual STREQUAL locked_hash)
  message(FATAL_ERROR "plugin.h's declarations changed (sha256 ${actual}) without an ABI version bump: "
                      "bump MEMRUN_ABI_MINOR (additions) or MEMRUN_ABI_MAJOR (removals/changes), "
                      "then record the new version and hash in ${LOCK}")
endif()
message(STATUS "plugin.h matches ABI ${major}.${minor}")
