// The package container (package/archive.cc): a zstd-compressed tar from
// storage, read entry by entry through libarchive.
//
// Input: the first byte picks the form. Even: the rest is the package file as
// stored. Odd: the rest is a tar, compressed here, so that mutations reach the
// tar headers instead of dying in the zstd frame.
#include "contract.hpp"
#include "package/archive.hpp"

#include <zstd.h>

#include <cstring>
#include <string>
#include <vector>

using namespace memrun;

namespace {

// Beyond this an entry is refused rather than read (a header may lie).
constexpr uint64_t kLimit = 1u << 20;

void read_all(const std::byte* bytes, size_t size) {
  internal::package::ArchiveReader reader(bytes, size);
  std::string name;
  uint64_t declared = 0;
  while (reader.next(&name, &declared)) {
    uint64_t seen = 0;
    reader.read([&](const std::byte*, size_t n) { seen += n; }, kLimit);
    // A whole entry is exactly as long as its header says: package.cc checks
    // the bytes it gets against the manifest, never against the header.
    FUZZ_CHECK(seen == declared);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<std::byte> package(size - 1);
  if (size > 1) std::memcpy(package.data(), data + 1, size - 1);
  if (data[0] & 1) {
    package.resize(ZSTD_compressBound(size - 1));
    const size_t n = ZSTD_compress(package.data(), package.size(), data + 1, size - 1, 1);
    FUZZ_CHECK(!ZSTD_isError(n));
    package.resize(n);
  }
  fuzz::accepts([&] { read_all(package.data(), package.size()); }, {Code::kInvalidArgument});
  return 0;
}
