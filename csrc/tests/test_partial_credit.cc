#include "check.h"
#include "grlm/item_score.h"
#include "grlm/partial_credit.h"

TEST(CreditsEqualContainingAndContainedTerms) {
  grlm::TermVocab vocab;
  vocab.Intern("hair");        // 0: contained in "hair-mask"
  vocab.Intern("hair-mask");   // 1: equal
  vocab.Intern("mask");        // 2: contained
  vocab.Intern("hair-mask-x"); // 3: contains
  vocab.Intern("shampoo");     // 4: unrelated
  grlm::PartialCreditIndex index(vocab);
  std::vector<std::pair<grlm::TermId, int32_t>> credits;
  index.Credits("hair-mask", &credits);
  CHECK((credits == std::vector<std::pair<grlm::TermId, int32_t>>{
                        {0, grlm::kBagPartialCredit}, {1, grlm::kBagExactCredit},
                        {2, grlm::kBagPartialCredit}, {3, grlm::kBagPartialCredit}}));
  credits.clear();
  index.Credits("air", &credits);  // not a vocabulary term: still credits the terms containing it
  CHECK_EQ(credits.size(), 3u);
}
