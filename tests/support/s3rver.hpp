// s3rver (npm), an S3-compatible server, on 127.0.0.1 at a free port with one
// bucket, and Debian's awscli pointed at it as the independent client. The
// AWS_* environment is set so memrun's S3 client, and every child process a
// test starts, talk to it. s3rver does not check signatures.
#pragma once

#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace memrun::test {

class S3rver {
 public:
  static constexpr const char* kBucket = "memrun-test";

  // Starts the server; throws std::runtime_error with its output if it does not come up.
  S3rver();
  const std::string& endpoint() const { return endpoint_; }
  // Runs `aws --endpoint-url ENDPOINT args...`; {exit code, output}.
  std::pair<int, std::string> aws(const std::vector<std::string>& args) const;

 private:
  TempDir data_{"memrun-s3rver"};
  std::unique_ptr<Subprocess> server_;
  std::string endpoint_;
};

}  // namespace memrun::test
