// CudaStructuralScorer through the public C++ API: without a GPU (CI) it must fail cleanly with
// CudaError; with one it must return StructuralScorer's lists and scores exactly.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "grlm/cuda_structural.h"
#include "grlm/structural.h"

namespace {

grlm::Catalog RandomCatalog(int n, int length, std::mt19937* rng) {
  grlm::Catalog catalog(length);
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> terms;
    for (int j = 0; j < length; ++j) terms.push_back("t" + std::to_string((*rng)() % 40));
    std::vector<std::string_view> views(terms.begin(), terms.end());
    catalog.AddItem("i" + std::to_string(i), views);
  }
  return catalog;
}

}  // namespace

TEST_CASE("ReportsWhatWasBuilt") {
  CHECK(grlm::CudaCompiled() == (GRLM_WITH_CUDA != 0));
  CHECK(grlm::CudaDeviceCount() >= 0);
}

TEST_CASE("WithoutAGpuConstructionThrowsCudaError") {
  if (grlm::CudaCompiled() && grlm::CudaDeviceCount() > 0) return;
  grlm::Catalog catalog(2);
  catalog.AddItem("a", {"x", "y"});
  CHECK_THROWS_AS(grlm::CudaStructuralScorer(catalog, grlm::ScoreMode::kPositional),
                  grlm::CudaError);
}

TEST_CASE("OnAGpuMatchesTheCpuScorer") {
  if (!grlm::CudaCompiled() || grlm::CudaDeviceCount() == 0) return;
  std::mt19937 rng(3);
  const grlm::Catalog catalog = RandomCatalog(3001, 4, &rng);
  for (grlm::ScoreMode mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    grlm::StructuralScorer cpu(catalog, mode, {});
    grlm::CudaStructuralScorer gpu(catalog, mode, cpu.weights());
    std::vector<grlm::PreparedQuery> queries(50);
    for (auto& query : queries) {
      std::vector<std::string> terms;
      for (int j = 0; j < 4; ++j) terms.push_back("t" + std::to_string(rng() % 45));
      std::vector<std::string_view> views(terms.begin(), terms.end());
      grlm::TermId ids[grlm::kMaxTermIdLength];
      catalog.EncodeQuery(views, ids);
      cpu.Prepare(views, ids, &query);
    }
    for (int k : {1, 10, 1024}) {
      const auto got = gpu.TopK(queries, k);
      for (std::size_t q = 0; q < queries.size(); ++q) {
        const auto want = cpu.TopK(queries[q], k);
        CHECK_EQ(got[q].size(), want.size());
        for (std::size_t i = 0; i < want.size() && i < got[q].size(); ++i) {
          CHECK_EQ(got[q][i].item, want[i].item);
          CHECK_EQ(got[q][i].score, want[i].score);
        }
      }
    }
  }
}
