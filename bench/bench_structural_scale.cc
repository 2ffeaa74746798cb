// The CPU structural scorer alone at catalog sizes the Python benchmark cannot generate quickly
// (10M items): build time, index memory and time per top-k query, one thread, k = 10. Catalog
// and queries as bench_grounding.py builds them: Term IDs of 5 terms drawn from a Zipf(1.0) law
// over 50,000 random words; near-miss queries replace one or two terms of a catalog Term ID by a
// vocabulary term drawn uniformly, "frequent" ones by a term drawn as often as it occurs. The sum
// of the top scores is printed so two builds can be checked to agree. Build it against a tree:
//
//   g++ -O3 -DNDEBUG -ffp-contract=off -std=c++20 -Icsrc/include bench/bench_structural_scale.cc \
//     csrc/src/{term_vocab,catalog,partial_credit,structural}.cc -o /tmp/scale
//   /tmp/scale 10000000 500
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/structural.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000000;
  const int num_queries = argc > 2 ? std::atoi(argv[2]) : 500;
  constexpr int kLength = 5, kVocab = 50000, kTopK = 10;
  std::mt19937_64 rng(1);
  std::vector<std::string> vocab;
  std::uniform_int_distribution<int> word_length(4, 9), letter(0, 25);
  while (static_cast<int>(vocab.size()) < kVocab) {
    std::string word;
    for (int i = word_length(rng); i > 0; --i) word += static_cast<char>('a' + letter(rng));
    vocab.push_back(word);
    if (static_cast<int>(vocab.size()) == kVocab) {
      std::sort(vocab.begin(), vocab.end());
      vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
    }
  }
  std::vector<double> cdf(kVocab);
  double sum = 0;
  for (int i = 0; i < kVocab; ++i) cdf[i] = sum += 1.0 / (i + 1);
  std::uniform_real_distribution<double> uniform(0, sum);
  std::vector<int> terms(static_cast<std::size_t>(n) * kLength);
  for (int& t : terms) {
    t = std::min<int>(kVocab - 1,
                      std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin());
  }
  grlm::Catalog catalog(kLength);
  for (int i = 0; i < n; ++i) {
    std::vector<std::string_view> item;
    for (int j = 0; j < kLength; ++j) item.push_back(vocab[terms[std::size_t(i) * kLength + j]]);
    catalog.AddItem("s" + std::to_string(i), item);
  }
  auto make_queries = [&](bool frequent) {
    std::mt19937_64 qrng(frequent ? 3 : 2);
    std::vector<std::vector<int>> queries;
    for (int q = 0; q < num_queries; ++q) {
      const std::size_t item = qrng() % n;
      std::vector<int> query(terms.begin() + item * kLength, terms.begin() + (item + 1) * kLength);
      int positions[kLength] = {0, 1, 2, 3, 4};
      std::shuffle(positions, positions + kLength, qrng);
      for (int r = 0, replaced = 1 + qrng() % 2; r < replaced; ++r) {
        query[positions[r]] = frequent ? terms[qrng() % terms.size()] : int(qrng() % kVocab);
      }
      queries.push_back(query);
    }
    return queries;
  };
  std::printf("%d items, %d queries per set, k=%d, one thread\n", n, num_queries, kTopK);
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    const char* mode_name = mode == grlm::ScoreMode::kBag ? "bag" : "positional";
    const auto start = std::chrono::steady_clock::now();
    grlm::StructuralScorer scorer(catalog, mode, {});
    const double build = Seconds(start);
    const double catalog_mib = catalog.terms().size() * sizeof(grlm::TermId) / 1048576.0;
    std::printf("%-10s build %.2f s, index %.1f MiB (+ %.1f MiB of Term IDs)\n", mode_name, build,
                scorer.MemoryBytes() / 1048576.0, catalog_mib);
    for (bool frequent : {false, true}) {
      std::vector<grlm::PreparedQuery> prepared(num_queries);
      const auto queries = make_queries(frequent);
      for (int q = 0; q < num_queries; ++q) {
        std::vector<std::string_view> query;
        for (int t : queries[q]) query.push_back(vocab[t]);
        grlm::TermId ids[grlm::kMaxTermIdLength];
        catalog.EncodeQuery(query, ids);
        scorer.Prepare(query, ids, &prepared[q]);
      }
      double best = 1e9, checksum = 0;
      for (int repeat = 0; repeat < 3; ++repeat) {
        checksum = 0;
        const auto t0 = std::chrono::steady_clock::now();
        for (const auto& q : prepared) {
          for (const auto& scored : scorer.TopK(q, kTopK)) checksum += scored.score * scored.item;
        }
        best = std::min(best, Seconds(t0) / num_queries);
      }
      std::printf("%-10s %-9s %8.1f us/query (checksum %.6g)\n", mode_name,
                  frequent ? "frequent" : "near-miss", best * 1e6, checksum);
    }
  }
}
