// The out-of-line half of the public Blob: its lazy check calls into the
// disk tier's ChunkCheck, which the installed header does not show.
#include "cache/blob_access.hpp"

namespace memrun {

namespace internal {
ChunkCheck::~ChunkCheck() = default;
}  // namespace internal

void Blob::verify(std::size_t offset, std::size_t length) const {
  if (!check_->all_verified()) check_->verify(offset, length);
}

bool Blob::corrupt() const noexcept { return check_ && check_->corrupt(); }

}  // namespace memrun
