// The container of a package: a POSIX tar compressed with zstd, through
// libarchive (a well-kept reader of untrusted archives; its zstd filter runs
// libzstd in-process). Only regular files go in and come out: a reader meets
// a symlink, hard link, device or directory entry as an error, so nothing in
// a package can point outside the directory it is unpacked into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>

struct archive;

namespace memrun::internal::package {

class ArchiveWriter {
 public:
  // Creates `path`. Throws Error(kUnavailable).
  explicit ArchiveWriter(const std::string& path);
  ~ArchiveWriter();
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  // Appends a regular file. Throws Error(kUnavailable).
  void add(const std::string& name, std::string_view bytes, int mode, std::time_t mtime);
  // Finishes the archive (zstd frame, tar trailer). Throws Error(kUnavailable).
  void close();

 private:
  void check(int rc, const std::string& what);
  struct archive* a_;
  std::string path_;
};

// Reads an archive held in memory, entry by entry.
class ArchiveReader {
 public:
  using Sink = std::function<void(const std::byte* data, size_t size)>;

  ArchiveReader(const std::byte* data, size_t size);
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // Moves to the next entry: false at the end. Throws
  // Error(kInvalidArgument) for a damaged or truncated archive, or an entry
  // that is not a regular file.
  bool next(std::string* name, uint64_t* size);
  // Streams the current entry to `sink`; more than `limit` bytes is an error
  // (a header may lie about its size). Throws Error(kInvalidArgument), or
  // what `sink` throws.
  void read(const Sink& sink, uint64_t limit);

 private:
  [[noreturn]] void fail(const std::string& what);
  struct archive* a_;
  std::string entry_;
};

}  // namespace memrun::internal::package
