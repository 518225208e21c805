// The one exception → code mapping that the worker, the plugin SDK and the
// host table share.
#include <memrun/exception_status.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using memrun::Code;
using memrun::ExceptionStatus;

namespace {

// The message is copied while the exception lives: ExceptionStatus::message
// points into it (found under ASan: the test read it after the catch block).
struct Seen {
  Code code = Code::kOk;
  ExceptionStatus::Kind kind = ExceptionStatus::Kind::kOther;
  bool has_message = false;
  std::string message;
};

template <class F>
Seen status_of(F&& thrower) {
  try {
    thrower();
  } catch (...) {
    const ExceptionStatus s = memrun::exception_status();
    return {s.code, s.kind, s.message != nullptr, s.message != nullptr ? s.message : ""};
  }
  ADD_FAILURE() << "nothing thrown";
  return {};
}

}  // namespace

TEST(ExceptionStatus, ErrorKeepsItsCodeButNeverReadsAsSuccess) {
  auto s = status_of([] { throw memrun::Error(Code::kNotFound, "no such object"); });
  EXPECT_EQ(s.code, Code::kNotFound);
  EXPECT_EQ(s.message, "no such object");
  EXPECT_EQ(s.kind, ExceptionStatus::Kind::kError);
  // host_api.cc used to return this as MEMRUN_OK.
  s = status_of([] { throw memrun::Error(Code::kOk, "claims ok"); });
  EXPECT_EQ(s.code, Code::kInternal);
  EXPECT_EQ(s.message, "claims ok");
}

TEST(ExceptionStatus, JsonErrorsAreBadInputOthersInternal) {
  auto s = status_of([] { (void)nlohmann::json::object().at("missing"); });
  EXPECT_EQ(s.code, Code::kInvalidArgument);
  EXPECT_EQ(s.kind, ExceptionStatus::Kind::kJson);
  s = status_of([] { throw std::runtime_error("boom"); });
  EXPECT_EQ(s.code, Code::kInternal);
  EXPECT_EQ(s.message, "boom");
  s = status_of([] { throw 7; });
  EXPECT_EQ(s.code, Code::kInternal);
  EXPECT_FALSE(s.has_message);
  EXPECT_EQ(s.kind, ExceptionStatus::Kind::kOther);
}
