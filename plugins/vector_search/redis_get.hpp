// Fetches one value from Redis, for the fleet that keeps raw datasets in a
// shared Redis instead of in its workers (bench/thesis, mode "redis").
#pragma once

#include <chrono>
#include <string>

namespace vector_search {

// The value of KEY at "redis://IPV4:PORT/KEY", over a connection of its own
// that waits at most `timeout` per send or receive. Throws memrun::Error:
// kInvalidArgument for a malformed URL, kNotFound for a missing key,
// kUnavailable (retriable) for anything the connection or server did wrong.
std::string redis_get(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace vector_search
