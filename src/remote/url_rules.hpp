// The checks every URL passes before any tier (RAM, disk, remote) looks at
// it. A URL is a cache key, a log word and a request line at once; bytes
// that mean one thing to one of them and another to the next are refused
// here, once, rather than at each.
// Thread: any (no state).
#pragma once

#include <string_view>

namespace memrun::internal {

// Throws Error(kInvalidArgument), final (never retried), when `url` holds a
// control character (a byte below 0x20, or 0x7f). A NUL would key the cache
// by the whole string while libcurl fetches the part before it; a line break
// would forge a log line and, sent to libcurl, fail as a transport error
// that gets retried. The message names the byte's position, not the URL's
// text after it.
void refuse_control_characters(std::string_view url);

}  // namespace memrun::internal
