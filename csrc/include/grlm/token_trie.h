// A trie over token-id sequences (each item's answer tokens ending with the end token), for
// prefix-constrained beam search. Stored as flat CSR arrays (per node: child tokens sorted
// ascending, child node ids) that export to numpy and move once to an accelerator.
//
// Items can be added and removed without a rebuild:
// - every node counts the live items below it; a child whose count is 0 is never allowed, so a
//   removed item is never produced by the next search and dead branches are never walked;
// - node ids never change, so beams holding a node id stay valid across changes.
//
// Threads: any number of readers may run alongside one writer at a time (writers queue on a
// mutex). Readers work on an immutable snapshot, swapped in atomically when a change is complete
// (read-copy-update over a std::shared_ptr<const Snapshot>, grlm/snapshot_cell.h): a reader never
// waits for a change in progress, never sees half a change, and keeps its snapshot alive while it
// uses it. A change copies the arrays once (O(nodes + edges)), so add many items with one AddBatch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "grlm/snapshot_cell.h"

namespace grlm {

// The flat arrays of a TokenTrie (a copy taken by TokenTrie::Export).
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
  // Adds n items; sequence i is tokens[offsets[i] .. offsets[i+1]-1], as one change. On an empty
  // trie the arrays are built in one pass over the sorted sequences. Validates everything before
  // changing anything.
  void AddBatch(const int64_t* items, const int32_t* tokens, const int64_t* offsets, std::size_t n);
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

  // Copies the flat arrays of the current snapshot.
  TokenTrieArrays Export() const;

  int32_t end_token() const { return end_token_; }
  std::size_t num_items() const;
  std::size_t num_nodes() const;
  std::size_t num_edges() const;
  // Length of the longest sequence ever added (an upper bound on decoding steps).
  int32_t max_length() const;
  // Increments whenever nodes or edges are added (the exported arrays then need a new export).
  uint64_t structure_version() const;
  // Increments on every change (add or remove).
  uint64_t version() const;
  // Bytes held by the arrays of the current snapshot (capacity of its vectors).
  std::size_t MemoryBytes() const;

 private:
  struct Snapshot;
  class Change;

  // The current snapshot (grlm/snapshot_cell.h: a pointer copy under a short mutex).
  std::shared_ptr<const Snapshot> Load() const { return snapshot_.Load(); }
  void Publish(std::shared_ptr<const Snapshot> next) { snapshot_.Publish(std::move(next)); }

  const int32_t end_token_;
  SnapshotCell<Snapshot> snapshot_;
  std::mutex write_mutex_;  // one change at a time; readers never take it
};

}  // namespace grlm
