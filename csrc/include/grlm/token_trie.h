// A trie over token-id sequences (each item's answer tokens ending with the end token), for
// prefix-constrained beam search. Stored as flat CSR arrays (per node: child tokens sorted
// ascending, child node ids) that export to numpy and move once to an accelerator.
//
// Items can be added and removed without a rebuild:
// - every node counts the live items below it; a child whose count is 0 is never allowed, so a
//   removed item is never produced by the next search and dead branches are never walked;
// - new edges go to a small side index (per node, sorted) that Compact() merges into the CSR
//   arrays in O(nodes + edges); node ids never change, so beams holding a node id stay valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace grlm {

// The flat arrays of a TokenTrie (a snapshot taken by TokenTrie::Export).
struct TokenTrieArrays {
  // Children of node n: edges row_ptr[n] .. row_ptr[n+1]-1, child_token ascending within a row.
  std::vector<int32_t> row_ptr;
  std::vector<int32_t> child_token;
  std::vector<int32_t> child_node;
  // live[n]: number of live items whose token sequence passes through (or ends at) node n.
  std::vector<int32_t> live;
  // Live items ending at node n: items[item_ptr[n] .. item_ptr[n+1]-1], ascending.
  std::vector<int32_t> item_ptr;
  std::vector<int32_t> items;
};

class TokenTrie {
 public:
  static constexpr int32_t kRoot = 0;
  static constexpr int32_t kNone = -1;

  // end_token: the token that ends every sequence (the tokenizer's EOS); it must be the last
  // token of each sequence and appear nowhere else in it.
  explicit TokenTrie(int32_t end_token);

  // Adds item (a dense index, 0 <= item < 2^31-1) with the given token sequence. Throws
  // InvalidArgument on a bad or duplicate item or a malformed sequence.
  void Add(int64_t item, const int32_t* tokens, std::size_t length);
  // Adds n items; sequence i is tokens[offsets[i] .. offsets[i+1]-1]. On an empty trie the CSR
  // arrays are built in one pass over the sorted sequences; otherwise the items are added one by
  // one. Validates everything before changing anything.
  void AddBatch(const int64_t* items, const int32_t* tokens, const int64_t* offsets,
                std::size_t n);
  // Removes item; returns false when it is not present (or already removed).
  bool Remove(int64_t item);
  bool Contains(int64_t item) const;

  // Live child of node for token, or kNone (no such edge, or no live item below it).
  int32_t Child(int32_t node, int32_t token) const;
  // Node reached from the root by tokens (live edges only), or kNone.
  int32_t Walk(const int32_t* tokens, std::size_t length) const;
  // Tokens of the live children of node, ascending.
  std::vector<int32_t> AllowedTokens(int32_t node) const;
  // Live items whose sequence ends at node, ascending.
  std::vector<int64_t> ItemsAt(int32_t node) const;
  // Token sequence of a live item.
  std::vector<int32_t> Sequence(int64_t item) const;
  // Nodes on the path of a live item, root first, leaf last (live counts change along it).
  std::vector<int32_t> PathNodes(int64_t item) const;

  // Merges the side index into the CSR arrays (node ids unchanged).
  void Compact();
  // Compacts if needed and copies the flat arrays.
  TokenTrieArrays Export();

  int32_t end_token() const { return end_token_; }
  std::size_t num_items() const { return num_live_items_; }
  std::size_t num_nodes() const { return live_.size(); }
  std::size_t num_edges() const { return base_token_.size() + num_side_edges_; }
  // Length of the longest sequence ever added (an upper bound on decoding steps).
  int32_t max_length() const { return max_length_; }
  // Increments whenever nodes or edges are added (the exported CSR then needs a new export).
  uint64_t structure_version() const { return structure_version_; }
  // Increments on every change (add or remove).
  uint64_t version() const { return version_; }
  // Bytes held by the arrays of the trie (capacity of its vectors, side index included).
  std::size_t MemoryBytes() const;

 private:
  struct Edge {
    int32_t token;
    int32_t child;
  };
  void CheckItem(int64_t item) const;
  void CheckSequence(const int32_t* tokens, std::size_t length) const;
  void CheckNode(int32_t node) const;
  // Child of node for token, live or not, or kNone.
  int32_t AnyChild(int32_t node, int32_t token) const;
  int32_t NewNode(int32_t parent, int32_t token);
  void AttachItem(int32_t leaf, int64_t item);
  void BulkBuild(const int64_t* items, const int32_t* tokens, const int64_t* offsets,
                 std::size_t n);

  int32_t end_token_;
  // CSR over nodes [0, base_nodes): children merged at the last Compact (or bulk build).
  std::vector<int32_t> base_row_ptr_;
  std::vector<int32_t> base_token_;
  std::vector<int32_t> base_child_;
  // Edges added since: node -> children sorted by token.
  std::unordered_map<int32_t, std::vector<Edge>> side_;
  std::size_t num_side_edges_ = 0;
  // Per node.
  std::vector<int32_t> parent_;
  std::vector<int32_t> token_;  // token of the edge into the node (-1 for the root)
  std::vector<int32_t> live_;
  std::vector<int32_t> first_item_;  // head of the list of items ending here, or kNone
  // Per item (dense index).
  std::vector<int32_t> item_leaf_;  // kNone when absent
  std::vector<int32_t> next_item_;
  std::size_t num_live_items_ = 0;
  int32_t max_length_ = 0;
  uint64_t structure_version_ = 0;
  uint64_t version_ = 0;
};

}  // namespace grlm
