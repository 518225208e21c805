# memrun_abi_hash(HEADER CC OUT): SHA-256 of plugin.h's declarations. The C
# compiler drops the comments without expanding anything (-fpreprocessed -dD
# keeps every #define and #if), and runs of whitespace count as one space,
# so a comment or layout fix leaves the hash, and so the ABI version, alone.
function(memrun_abi_hash header cc out)
  execute_process(COMMAND ${cc} -fpreprocessed -dD -E -P -x c ${header}
                  OUTPUT_VARIABLE code ERROR_QUIET RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "${cc} could not read ${header}")
  endif()
  string(REGEX REPLACE "[ \t\r\n]+" " " code "${code}")
  string(STRIP "${code}" code)
  string(SHA256 hash "${code}")
  set(${out} ${hash} PARENT_SCOPE)
endfunction()
