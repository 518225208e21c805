// Writing files so that they are whole on disk: every byte written despite
// short writes and signals, fsynced before anyone relies on them. Shared by
// the disk cache, the crash journal, package unpacking and file:// results.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace memrun::internal {

// Writes all `size` bytes at `data` to `fd`. False with errno set on failure
// (ENOSPC for a write that made no progress).
bool write_all(int fd, const void* data, size_t size);

// Creates or truncates `path` with `mode`, writes `bytes`, fsyncs and closes
// it. False with errno set; the caller removes what a failure left.
bool write_file_synced(const std::string& path, std::string_view bytes, mode_t mode = 0644);

// fsyncs a directory, so that a rename into it survives a crash. Best effort:
// some filesystems refuse it, and the data itself is already synced.
void fsync_dir(const std::string& dir);

}  // namespace memrun::internal
