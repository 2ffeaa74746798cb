#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "grlm/item_score.h"
#include "grlm/partial_credit.h"

TEST_CASE("CreditsEqualContainingAndContainedTerms") {
  grlm::TermVocab vocab;
  vocab.Intern("hair");         // 0: contained in "hair-mask"
  vocab.Intern("hair-mask");    // 1: equal
  vocab.Intern("mask");         // 2: contained
  vocab.Intern("hair-mask-x");  // 3: contains
  vocab.Intern("shampoo");      // 4: unrelated
  grlm::PartialCreditIndex index(vocab);
  std::vector<grlm::TermCredit> credits;
  index.Credits("hair-mask", &credits);
  CHECK((credits == std::vector<grlm::TermCredit>{{0, grlm::kBagPartialCredit},
                                                  {1, grlm::kBagExactCredit},
                                                  {2, grlm::kBagPartialCredit},
                                                  {3, grlm::kBagPartialCredit}}));
  credits.clear();
  index.Credits("air", &credits);  // not a vocabulary term: still credits the terms containing it
  CHECK_EQ(credits.size(), 3u);
}

// The definition, literally: scan the whole vocabulary.
static std::vector<grlm::TermCredit> BruteForceCredits(const grlm::TermVocab& vocab,
                                                       const std::string& g) {
  std::vector<grlm::TermCredit> credits;
  for (grlm::TermId t = 0; t < vocab.size(); ++t) {
    const std::string& w = vocab.Term(t);
    if (w == g) {
      credits.emplace_back(t, grlm::kBagExactCredit);
    } else if (w.find(g) != std::string::npos || g.find(w) != std::string::npos) {
      credits.emplace_back(t, grlm::kBagPartialCredit);
    }
  }
  return credits;
}

TEST_CASE("CreditsMatchAScanOfTheVocabularyOnRandomTerms") {
  // Short words over three letters (and a multi-byte one), so containment is common; generated
  // terms are vocabulary terms (precomputed credits) and new strings (computed per query).
  std::mt19937 rng(7);
  const std::string letters[] = {"a", "b", "c", "\xc3\xa9"};
  auto word = [&](int max_letters) {
    std::string w;
    const int n = 1 + int(rng() % unsigned(max_letters));
    for (int i = 0; i < n; ++i) w += letters[rng() % 4];
    return w;
  };
  for (int trial = 0; trial < 20; ++trial) {
    grlm::TermVocab vocab;
    for (int i = 0; i < 60; ++i) vocab.Intern(word(6));
    grlm::PartialCreditIndex index(vocab);
    std::vector<std::string> generated(vocab.terms());
    for (int i = 0; i < 60; ++i) generated.push_back(word(9));
    for (const std::string& g : generated) {
      std::vector<grlm::TermCredit> credits{{12345, 1}};  // appended after what is there
      index.Credits(g, &credits);
      auto want = BruteForceCredits(vocab, g);
      want.insert(want.begin(), {12345, 1});
      CHECK(credits == want);
    }
  }
}
