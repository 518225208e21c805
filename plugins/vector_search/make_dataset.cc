// make_embeddings FILE ROWS DIM [SEED] — writes a dataset for the
// vector_search plugin: ROWS float32 vectors of DIM, drawn around a few
// hundred random cluster centres so that neighbours are meaningful.
#include "embeddings.hpp"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s FILE ROWS DIM [SEED]\n", argv[0]);
    return 2;
  }
  const uint32_t rows = static_cast<uint32_t>(std::stoul(argv[2]));
  const uint32_t dim = static_cast<uint32_t>(std::stoul(argv[3]));
  std::mt19937 rng(argc > 4 ? static_cast<unsigned>(std::stoul(argv[4])) : 1u);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int kCentres = 256;
  std::vector<float> centres(static_cast<size_t>(kCentres) * dim);
  for (auto& c : centres) c = normal(rng);

  std::FILE* out = std::fopen(argv[1], "wb");
  if (!out) {
    std::perror(argv[1]);
    return 1;
  }
  vector_search::Header h{};
  std::memcpy(h.magic, vector_search::kMagic, sizeof h.magic);
  h.rows = rows;
  h.dim = dim;
  std::fwrite(&h, sizeof h, 1, out);
  std::vector<float> row(dim);
  for (uint32_t r = 0; r < rows; ++r) {
    const float* centre = &centres[(rng() % kCentres) * dim];
    for (uint32_t d = 0; d < dim; ++d) row[d] = centre[d] + 0.3f * normal(rng);
    if (std::fwrite(row.data(), sizeof(float), dim, out) != dim) {
      std::perror(argv[1]);
      return 1;
    }
  }
  return std::fclose(out) == 0 ? 0 : 1;
}
