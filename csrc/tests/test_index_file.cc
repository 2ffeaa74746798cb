#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "grlm/error.h"
#include "grlm/index_file.h"

TEST_CASE("RoundTripsAndDetectsCorruption") {
  grlm::Catalog c(3);
  c.AddItem("a", {"x", "y", "z"});
  c.AddItem("b", {"x", "q"});
  c.SetPriors({0.5, 2.0});
  grlm::Grounder g(std::move(c), grlm::ScoreMode::kBag);
  const std::string path = "test_index_file.grlm";
  grlm::SaveIndex(g, path);
  grlm::Grounder loaded = grlm::LoadIndex(path);
  CHECK(loaded.mode() == grlm::ScoreMode::kBag);
  CHECK(loaded.catalog().item_ids() == g.catalog().item_ids());
  CHECK(loaded.catalog().terms() == g.catalog().terms());
  CHECK(loaded.catalog().tie_rank() == g.catalog().tie_rank());
  CHECK(loaded.Ground({"x"}, 2).items == g.Ground({"x"}, 2).items);

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << flipped;
  CHECK_THROWS_AS(grlm::LoadIndex(path), grlm::IndexFileError);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 3);
  CHECK_THROWS_AS(grlm::LoadIndex(path), grlm::IndexFileError);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not an index";
  CHECK_THROWS_AS(grlm::LoadIndex(path), grlm::IndexFileError);
  std::remove(path.c_str());
  CHECK_THROWS_AS(grlm::LoadIndex(path), grlm::IndexFileError);
}

// Damaged bytes of a valid file (flipped, truncated, counts overwritten): only IndexFileError.
TEST_CASE("DamagedBytesOnlyRaiseIndexFileError") {
  grlm::Catalog c(3);
  c.AddItem("a", {"x", "y", "z"});
  c.AddItem("b", {"x", "q"});
  grlm::Grounder g(std::move(c), grlm::ScoreMode::kBag);
  const std::string path = "test_index_file_damage.grlm";
  grlm::SaveIndex(g, path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::remove(path.c_str());
  CHECK(grlm::ParseIndexBytes(bytes, "mem").catalog().size() == 2);
  std::mt19937 rng(7);
  int other_errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string damaged = bytes;
    if (trial % 2) {
      damaged[rng() % damaged.size()] = char(rng());
    } else {
      damaged.resize(rng() % damaged.size());
    }
    try {
      grlm::ParseIndexBytes(damaged, "mem");
    } catch (const grlm::IndexFileError&) {
    } catch (...) {
      ++other_errors;
    }
  }
  CHECK_EQ(other_errors, 0);
  CHECK_THROWS_AS(grlm::LoadIndex("."), grlm::IndexFileError);  // a directory
  CHECK_THROWS_AS(grlm::LoadIndex(std::string("a\0b", 3)), grlm::IndexFileError);
  CHECK_THROWS_AS(grlm::SaveIndex(g, std::string("a\0b", 3)), grlm::InvalidArgument);
}
