#include "support/s3rver.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace memrun::test {

using namespace std::chrono_literals;

S3rver::S3rver() {
  if (!std::filesystem::exists(S3RVER_BIN))
    throw std::runtime_error(std::string(S3RVER_BIN) + " missing: scripts/test installs s3rver with npm");
  server_ = std::make_unique<Subprocess>(std::vector<std::string>{
      S3RVER_BIN, "-d", data_.path, "-a", "127.0.0.1", "-p", "0", "--configure-bucket", kBucket});
  auto port = server_->wait_for("S3rver listening on 127.0.0.1:", 30s);
  if (!port) throw std::runtime_error("s3rver did not start:\n" + server_->output());
  endpoint_ = "http://127.0.0.1:" + *port;
  // s3rver's own key pair.
  ::setenv("AWS_ENDPOINT_URL", endpoint_.c_str(), 1);
  ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  ::setenv("AWS_REGION", "us-east-1", 1);
  ::setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
}

std::pair<int, std::string> S3rver::aws(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"/usr/bin/aws", "--endpoint-url", endpoint_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, 60s);
}

}  // namespace memrun::test
