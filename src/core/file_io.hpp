// Writing files so that they are whole on disk: every byte written despite
// short writes and signals, fsynced before anyone relies on them. Shared by
// the disk cache, the crash journal, package unpacking and file:// results.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace memrun::internal {

// Writes all `size` bytes at `data` to `fd`. False with errno set on failure
// (ENOSPC for a write that made no progress).
bool write_all(int fd, const void* data, size_t size);
// The same at `offset` of `fd` (pwrite: the file position is left alone).
bool pwrite_all(int fd, const void* data, size_t size, uint64_t offset);

// Creates or truncates `path` with `mode` (less the umask), writes `bytes`,
// fsyncs and closes it. False with errno set; the caller removes what a
// failure left. kPrivateFile is set exactly, whatever the umask.
bool write_file_synced(const std::string& path, std::string_view bytes, mode_t mode = 0644);

// Files and directories only their owner may read: what the disk cache and
// unpacked packages hold may be as private as the URL it came from.
inline constexpr mode_t kPrivateFile = 0600;
inline constexpr mode_t kPrivateDir = 0700;

// Creates `dir` (and missing parents, with the usual modes) and sets `dir`
// itself to kPrivateDir, also when it existed. False with errno set.
bool make_private_dir(const std::string& dir);

// fsyncs a directory, so that a rename into it survives a crash. Best effort:
// some filesystems refuse it, and the data itself is already synced.
void fsync_dir(const std::string& dir);

}  // namespace memrun::internal
