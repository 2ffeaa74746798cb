// The item table: item ids <-> dense indices, and the N x L matrix of interned Term IDs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grlm/term_vocab.h"
#include "grlm/types.h"

namespace grlm {

class Catalog {
 public:
  // term_id_length: L, the number of terms of the longest Term ID (1..16).
  explicit Catalog(int term_id_length = 5);

  // Adds an item with 1..L terms (shorter ones are padded with kPadTerm) and returns its index.
  // Throws InvalidArgument on a duplicate or empty item id, or a bad Term ID.
  uint32_t AddItem(std::string_view item_id, std::span<const std::string_view> terms);
  uint32_t AddItem(std::string_view item_id, std::initializer_list<std::string_view> terms) {
    return AddItem(item_id, std::span<const std::string_view>(terms.begin(), terms.size()));
  }
  // Adds an item whose terms are already interned in vocab(); used when loading an index.
  uint32_t AddEncodedItem(std::string_view item_id, const TermId* terms);

  // Optional per-item prior (e.g. training popularity) breaking ties: higher first, then lower
  // index. Throws on a wrong size or a non-finite value.
  void SetPriors(std::vector<double> priors);

  // Encodes a query Term ID of 1..L terms into L ids (unknown terms -> kUnknownTerm, padding ->
  // kPadTerm). Throws InvalidArgument on an empty or over-long Term ID or an invalid term.
  void EncodeQuery(std::span<const std::string_view> terms, TermId* out) const;
  void EncodeQuery(std::initializer_list<std::string_view> terms, TermId* out) const {
    EncodeQuery(std::span<const std::string_view>(terms.begin(), terms.size()), out);
  }

  int term_id_length() const { return length_; }
  std::size_t size() const { return item_ids_.size(); }
  const TermVocab& vocab() const { return vocab_; }
  TermVocab& mutable_vocab() { return vocab_; }
  const std::vector<TermId>& terms() const { return terms_; }
  const TermId* ItemTerms(uint32_t index) const {
    return terms_.data() + std::size_t(index) * length_;
  }
  const std::string& ItemId(uint32_t index) const { return item_ids_[index]; }
  const std::vector<std::string>& item_ids() const { return item_ids_; }
  // Index of item_id, or -1.
  int64_t FindItem(std::string_view item_id) const;

  bool has_priors() const { return !priors_.empty(); }
  const std::vector<double>& priors() const { return priors_; }
  // tie_rank()[i]: position of item i when sorted by (prior desc, index asc); unique per item.
  const std::vector<uint32_t>& tie_rank() const { return tie_rank_; }

 private:
  void RecomputeTieRank();

  int length_;
  TermVocab vocab_;
  std::vector<std::string> item_ids_;
  std::unordered_map<std::string, uint32_t> index_of_;
  std::vector<TermId> terms_;
  std::vector<double> priors_;
  std::vector<uint32_t> tie_rank_;
};

}  // namespace grlm
