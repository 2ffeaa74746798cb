#include "check.h"
#include "grlm/error.h"
#include "grlm/term_vocab.h"

using grlm::TermVocab;

TEST(NormalizesCaseAndWhitespace) {
  CHECK_EQ(TermVocab::Normalize("  Hair-Mask "), "hair-mask");
  CHECK_EQ(TermVocab::Normalize("water \t  Bottle"), "water bottle");
  CHECK_EQ(TermVocab::Normalize("Crème"), "crème");  // non-ASCII kept as is
}

TEST(RejectsEmptyAndInvalidUtf8) {
  CHECK_THROWS(TermVocab::Normalize("   "), grlm::InvalidArgument);
  CHECK_THROWS(TermVocab::Normalize(""), grlm::InvalidArgument);
  CHECK_THROWS(TermVocab::Normalize("bad\xff"), grlm::InvalidArgument);
  CHECK_THROWS(TermVocab::Normalize("\xed\xa0\x80"), grlm::InvalidArgument);  // surrogate
}

TEST(InternsDenseIdsInInsertionOrder) {
  TermVocab vocab;
  CHECK_EQ(vocab.Intern("perfume"), 0u);
  CHECK_EQ(vocab.Intern("woody"), 1u);
  CHECK_EQ(vocab.Intern(" PERFUME"), 0u);
  CHECK_EQ(vocab.size(), 2u);
  CHECK_EQ(vocab.Find("Woody"), 1u);
  CHECK_EQ(vocab.Find("citrus"), grlm::kUnknownTerm);
  CHECK_EQ(vocab.Term(1), "woody");
}
