// A directory of its own for one test, removed with everything in it when
// the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

namespace memrun::test {

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& prefix = "memrun-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// The files under `dir`, at any depth, whose name ends in `ext` (".data").
inline std::vector<std::filesystem::path> files_under(const std::string& dir, const std::string& ext) {
  std::vector<std::filesystem::path> out;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir))
    if (f.path().extension() == ext) out.push_back(f.path());
  return out;
}

}  // namespace memrun::test
