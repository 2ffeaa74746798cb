#include <doctest/doctest.h>

#include "grlm/error.h"
#include "grlm/term_vocab.h"

using grlm::TermVocab;

TEST_CASE("NormalizesCaseAndWhitespace") {
  CHECK_EQ(TermVocab::Normalize("  Hair-Mask "), "hair-mask");
  CHECK_EQ(TermVocab::Normalize("water \t  Bottle"), "water bottle");
  CHECK_EQ(TermVocab::Normalize("Crème"), "crème");  // non-ASCII kept as is
}

TEST_CASE("RejectsEmptyAndInvalidUtf8") {
  CHECK_THROWS_AS(TermVocab::Normalize("   "), grlm::InvalidArgument);
  CHECK_THROWS_AS(TermVocab::Normalize(""), grlm::InvalidArgument);
  CHECK_THROWS_AS(TermVocab::Normalize("bad\xff"), grlm::InvalidArgument);
  CHECK_THROWS_AS(TermVocab::Normalize("\xed\xa0\x80"), grlm::InvalidArgument);  // surrogate
}

TEST_CASE("InternsDenseIdsInInsertionOrder") {
  TermVocab vocab;
  CHECK_EQ(vocab.Intern("perfume"), 0u);
  CHECK_EQ(vocab.Intern("woody"), 1u);
  CHECK_EQ(vocab.Intern(" PERFUME"), 0u);
  CHECK_EQ(vocab.size(), 2u);
  CHECK_EQ(vocab.Find("Woody"), 1u);
  CHECK_EQ(vocab.Find("citrus"), grlm::kUnknownTerm);
  CHECK_EQ(vocab.Term(1), "woody");
}
