# What the implementation needs of a public class is not part of the API: a
# program built against the installed headers must not be able to call it.
# Each snippet below must fail to compile, because the member is private or
# gone (not for some unrelated reason), and a control snippet must compile.
set(prelude "#include <memrun/context.hpp>\n#include <memrun/embedded_kafka.hpp>\n#include <memory>\n")
# One variable per snippet: the code holds semicolons, so it cannot be a list item.
set(body_ok [=[void f(memrun::SharedWorkerContext& c, const memrun::Blob& b) { c.set_object("x", std::make_shared<int>(1), 4); (void)b.size(); (void)b.corrupt(); }]=])
set(hidden blob_owner_constructor blob_with_tier set_object_erased get_object_erased begin_init end_init
           fail_requests chunk_check_members)
set(blob_owner_constructor [=[memrun::Blob f() { return memrun::Blob(std::shared_ptr<const void>(), nullptr, 0, memrun::Tier::kRam, nullptr); }]=])
set(blob_with_tier [=[memrun::Blob f(const memrun::Blob& b) { return b.with_tier(memrun::Tier::kDisk); }]=])
set(set_object_erased [=[void f(memrun::SharedWorkerContext& c) { c.set_object_erased("x", "int", nullptr, 1); }]=])
set(get_object_erased [=[void f(memrun::SharedWorkerContext& c) { (void)c.get_object_erased("x", "int"); }]=])
set(begin_init [=[void f(memrun::SharedWorkerContext& c) { c.begin_init(); }]=])
set(end_init [=[void f(memrun::SharedWorkerContext& c) { c.end_init(); }]=])
set(fail_requests [=[void f(memrun::EmbeddedKafka& k) { k.fail_requests(0, 1, 1); }]=])
set(chunk_check_members [=[bool f(const memrun::internal::ChunkCheck& c) { return c.all_verified(); }]=])

function(try_compile_snippet name code out_rc out_err)
  set(src ${WORK}/hidden_${name}.cc)
  file(WRITE ${src} "${prelude}${code}\n")
  execute_process(COMMAND ${CXX} -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I${INCLUDE} ${src}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  set(${out_rc} ${rc} PARENT_SCOPE)
  set(${out_err} "${err}" PARENT_SCOPE)
endfunction()

try_compile_snippet(control "${body_ok}" rc err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the public API itself does not compile:\n${err}")
endif()
foreach(name IN LISTS hidden)
  set(code "${${name}}")
  try_compile_snippet(${name} "${code}" rc err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${name}: a program using the installed headers can call it:\n${code}")
  endif()
  if(NOT err MATCHES "private|has no member|incomplete type|is not a member")
    message(FATAL_ERROR "${name}: refused, but not because it is hidden:\n${err}")
  endif()
endforeach()
list(LENGTH hidden n)
message(STATUS "${n} implementation members hidden from the installed headers")
