// The embedding file format shared by the vector_search plugin and the
// dataset generator: a 16-byte header, then `rows` rows of `dim` float32
// values, little-endian, row-major.
#pragma once

#include <cstdint>
#include <cstring>

namespace vector_search {

constexpr char kMagic[8] = {'M', 'R', 'V', 'E', 'C', '0', '0', '1'};

struct Header {
  char magic[8];
  uint32_t rows;
  uint32_t dim;
};
static_assert(sizeof(Header) == 16);

}  // namespace vector_search
