// The SigV4 signer against AWS's published S3 examples ("Signature Calculations
// for the Authorization Header", examplebucket, 2013-05-24) and against
// botocore, an independent implementation, on requests with awkward paths,
// queries and headers.
#include "s3/sigv4.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <random>

namespace s3 = memrun::internal::s3;

namespace {

const s3::Credentials kExampleKey{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};

std::chrono::system_clock::time_point at(int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}
const auto k20130524 = at(1369353600);

s3::Request example(std::string method, std::string path) {
  s3::Request r;
  r.method = std::move(method);
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = std::move(path);
  return r;
}

std::string header(const s3::Signed& s, const std::string& name) {
  for (const auto& [n, v] : s.headers)
    if (n == name) return v;
  return "";
}

}  // namespace

TEST(SigV4, AwsExampleGetObjectWithRange) {
  auto r = example("GET", "/test.txt");
  r.headers = {{"Range", "bytes=0-9"}};
  auto s = s3::sign(r, kExampleKey, k20130524);
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(header(s, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, AwsExamplePutObject) {
  auto r = example("PUT", "/test$file.text");
  r.headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  r.payload_sha256 = s3::sha256_hex("Welcome to Amazon S3.");
  EXPECT_EQ(r.payload_sha256, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(s3::sign(r, kExampleKey, k20130524).signature,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, AwsExampleGetBucketLifecycle) {
  auto r = example("GET", "/");
  r.query = {{"lifecycle", ""}};
  EXPECT_EQ(s3::sign(r, kExampleKey, k20130524).signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, AwsExampleListObjects) {
  auto r = example("GET", "/");
  r.query = {{"prefix", "J"}, {"max-keys", "2"}};  // sorted by the signer
  EXPECT_EQ(s3::sign(r, kExampleKey, k20130524).signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, EncodingFollowsRfc3986) {
  EXPECT_EQ(s3::uri_encode("a b/c~d_e.f-g*h+i=j&k%", true), "a%20b/c~d_e.f-g%2Ah%2Bi%3Dj%26k%25");
  EXPECT_EQ(s3::uri_encode("x/y", false), "x%2Fy");
  EXPECT_EQ(s3::uri_encode("\xc3\xa9", true), "%C3%A9");
  EXPECT_EQ(s3::canonical_query({{"b", "2"}, {"a", "x y"}, {"a", "1"}, {"c", ""}}), "a=1&a=x%20y&b=2&c=");
}

TEST(SigV4, SessionTokenIsSentAndSigned) {
  auto r = example("GET", "/k");
  auto s = s3::sign(r, {"AK", "SECRET", "TOKEN/with+chars"}, k20130524);
  EXPECT_EQ(header(s, "x-amz-security-token"), "TOKEN/with+chars");
  EXPECT_NE(header(s, "authorization").find("x-amz-security-token"), std::string::npos);
}

// Random requests with awkward paths, queries and header values, signed here
// and by botocore (tests/s3/botocore_sign.py); every signature must agree.
TEST(SigV4, AgreesWithBotocore) {
  std::mt19937 rng(20261122);
  const std::string alphabet = "abcXYZ019 -_.~!*'()$&+,;=:@%/\xc3\xa9";
  auto random_text = [&](size_t max) {
    std::string out;
    for (size_t n = 1 + rng() % max; n > 0; --n) {
      char c = alphabet[rng() % alphabet.size()];
      if (static_cast<unsigned char>(c) >= 0x80) out += "\xc3\xa9";  // keep UTF-8 whole
      else out += c;
    }
    return out;
  };
  std::vector<s3::Request> requests;
  std::vector<s3::Credentials> keys;
  std::vector<int64_t> times;
  nlohmann::json batch = nlohmann::json::array();
  for (int i = 0; i < 60; ++i) {
    s3::Request r;
    const bool part = i % 6 == 5;  // a multipart upload's part
    r.method = (i % 3 == 0 || part) ? "PUT" : "GET";
    r.host = (i % 2) ? "127.0.0.1:4568" : "bucket.s3.eu-west-1.amazonaws.com";
    r.region = (i % 2) ? "us-east-1" : "eu-west-1";
    r.path = "/bucket/" + random_text(20);
    // Dot segments are signed as they are (S3 does not normalise them), and
    // the HTTP layer sends them so (CURLOPT_PATH_AS_IS).
    if (i == 7) r.path = "/bucket/a/./b/../c";
    for (int q = static_cast<int>(rng() % 3); q > 0; --q) r.query.emplace_back(random_text(6), random_text(6));
    if (part) r.query = {{"partNumber", std::to_string(i)}, {"uploadId", random_text(16)}};
    if (i % 4 == 1) r.headers.emplace_back("Range", "bytes=" + std::to_string(i) + "-" + std::to_string(i * 1000));
    if (i % 5 == 2) r.headers.emplace_back("X-Amz-Meta-Note", "  two   spaces  ");
    const std::string body = r.method == "PUT" ? random_text(40) : "";
    r.payload_sha256 = s3::sha256_hex(body);
    s3::Credentials c{"AKID" + std::to_string(i), random_text(30), (i % 7 == 3) ? random_text(12) : ""};
    const int64_t t = 1369353600 + static_cast<int64_t>(rng() % 400000000);
    std::string url = "http://" + r.host + s3::uri_encode(r.path, true);
    if (auto q = s3::canonical_query(r.query); !q.empty()) url += "?" + q;
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [n, v] : r.headers) headers[n] = v;
    batch.push_back({{"method", r.method}, {"url", url}, {"headers", headers}, {"body", body},
                     {"time", s3::amz_date(at(t))}, {"access_key", c.access_key_id},
                     {"secret_key", c.secret_access_key}, {"session_token", c.session_token},
                     {"region", r.region}});
    requests.push_back(r);
    keys.push_back(c);
    times.push_back(t);
  }
  const std::string input = testing::TempDir() + "/sigv4_batch.json";
  std::ofstream(input) << batch.dump();
  const std::string command = "/usr/bin/python3 " + std::string(BOTOCORE_SIGN) + " " + input + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::vector<std::string> theirs;
  char line[512];
  std::string all;
  while (std::fgets(line, sizeof line, pipe)) {
    all += line;
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    theirs.push_back(s);
  }
  ASSERT_EQ(::pclose(pipe), 0) << "botocore signer failed (is python3-botocore installed?):\n" << all;
  ASSERT_EQ(theirs.size(), requests.size()) << all;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto ours = s3::sign(requests[i], keys[i], at(times[i]));
    EXPECT_EQ(ours.signature, theirs[i]) << batch[i].dump() << "\ncanonical request:\n" << ours.canonical_request;
  }
}
