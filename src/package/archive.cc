#include "package/archive.hpp"

#include <memrun/status.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace memrun::internal::package {
namespace {

std::string archive_error(struct archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown libarchive error";
}

}  // namespace

ArchiveWriter::ArchiveWriter(const std::string& path) : a_(archive_write_new()), path_(path) {
  if (a_ == nullptr) throw Error(Code::kResourceExhausted, "libarchive: cannot allocate a writer");
  check(archive_write_add_filter_zstd(a_), "zstd filter");
  // pax_restricted: plain ustar headers unless a name needs more, so any tar reads it.
  check(archive_write_set_format_pax_restricted(a_), "tar format");
  check(archive_write_open_filename(a_, path.c_str()), "create");
}

ArchiveWriter::~ArchiveWriter() { archive_write_free(a_); }

void ArchiveWriter::check(int rc, const std::string& what) {
  if (rc != ARCHIVE_OK) throw Error(Code::kUnavailable, "writing " + path_ + ": " + what + ": " + archive_error(a_));
}

void ArchiveWriter::add(const std::string& name, std::string_view bytes, int mode, std::time_t mtime) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), &archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), static_cast<mode_t>(mode));
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
  archive_entry_set_mtime(entry.get(), mtime, 0);
  check(archive_write_header(a_, entry.get()), name);
  size_t done = 0;
  while (done < bytes.size()) {
    const la_ssize_t n = archive_write_data(a_, bytes.data() + done, bytes.size() - done);
    if (n <= 0) check(ARCHIVE_FATAL, name);
    done += static_cast<size_t>(n);
  }
}

void ArchiveWriter::close() {
  check(archive_write_close(a_), "close");
}

ArchiveReader::ArchiveReader(const std::byte* data, size_t size) : a_(archive_read_new()) {
  if (a_ == nullptr) throw Error(Code::kResourceExhausted, "libarchive: cannot allocate a reader");
  // Exactly one container: anything but tar inside zstd is not a package.
  if (archive_read_support_filter_zstd(a_) != ARCHIVE_OK || archive_read_support_format_tar(a_) != ARCHIVE_OK ||
      archive_read_open_memory(a_, data, size) != ARCHIVE_OK) {
    // No destructor runs for a constructor that throws: free the reader here.
    const std::string why = archive_error(a_);
    archive_read_free(a_);
    throw Error(Code::kInvalidArgument, "package archive: not a zstd-compressed tar: " + why);
  }
}

ArchiveReader::~ArchiveReader() { archive_read_free(a_); }

void ArchiveReader::fail(const std::string& what) {
  throw Error(Code::kInvalidArgument, "package archive: " + what +
                                          (entry_.empty() ? "" : " (at '" + entry_ + "')") + ": " + archive_error(a_));
}

bool ArchiveReader::next(std::string* name, uint64_t* size) {
  archive_entry* entry = nullptr;
  const int rc = archive_read_next_header(a_, &entry);
  if (rc == ARCHIVE_EOF) return false;
  if (rc != ARCHIVE_OK) fail("damaged or truncated archive");
  const char* path = archive_entry_pathname(entry);
  entry_ = path ? path : "";
  if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != nullptr)
    throw Error(Code::kInvalidArgument,
                "package archive: entry '" + entry_ + "' is not a regular file; a package holds regular files only");
  if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0)
    throw Error(Code::kInvalidArgument, "entry '" + entry_ + "' has no size");
  *name = entry_;
  *size = static_cast<uint64_t>(archive_entry_size(entry));
  return true;
}

void ArchiveReader::read(const Sink& sink, uint64_t limit) {
  uint64_t total = 0;
  for (;;) {
    const void* block = nullptr;
    size_t n = 0;
    la_int64_t offset = 0;
    const int rc = archive_read_data_block(a_, &block, &n, &offset);
    if (rc == ARCHIVE_EOF) return;
    if (rc != ARCHIVE_OK) fail("damaged or truncated archive");
    // Sparse entries would skip ahead; a package never has them.
    if (static_cast<uint64_t>(offset) != total)
      throw Error(Code::kInvalidArgument, "entry '" + entry_ + "' is sparse; a package holds plain files only");
    total += n;
    if (total > limit)
      throw Error(Code::kInvalidArgument, "entry '" + entry_ + "' holds more than its " + std::to_string(limit) +
                                              " bytes");
    sink(static_cast<const std::byte*>(block), n);
  }
}

}  // namespace memrun::internal::package
