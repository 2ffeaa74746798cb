#include "grlm/token_trie.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "grlm/error.h"

namespace grlm {

namespace {
constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max() - 1;
}  // namespace

TokenTrie::TokenTrie(int32_t end_token) : end_token_(end_token) {
  GRLM_CHECK(end_token >= 0, InvalidArgument, "end token must be >= 0, got " << end_token);
  base_row_ptr_ = {0, 0};  // the root, with no children yet
  parent_.push_back(kNone);
  token_.push_back(kNone);
  live_.push_back(0);
  first_item_.push_back(kNone);
}

void TokenTrie::CheckItem(int64_t item) const {
  GRLM_CHECK(item >= 0 && item <= kMaxIndex, InvalidArgument,
             "item index must be in [0, " << kMaxIndex << "], got " << item);
}

void TokenTrie::CheckSequence(const int32_t* tokens, std::size_t length) const {
  GRLM_CHECK(length > 0, InvalidArgument, "empty token sequence");
  GRLM_CHECK(tokens[length - 1] == end_token_, InvalidArgument,
             "token sequence must end with the end token " << end_token_ << ", ends with "
                                                           << tokens[length - 1]);
  for (std::size_t i = 0; i + 1 < length; ++i) {
    GRLM_CHECK(tokens[i] >= 0, InvalidArgument,
               "negative token " << tokens[i] << " at position " << i);
    GRLM_CHECK(tokens[i] != end_token_, InvalidArgument,
               "end token " << end_token_ << " inside a sequence at position " << i);
  }
}

void TokenTrie::CheckNode(int32_t node) const {
  GRLM_CHECK(node >= 0 && std::size_t(node) < live_.size(), InvalidArgument,
             "node " << node << " out of range [0, " << live_.size() << ")");
}

int32_t TokenTrie::AnyChild(int32_t node, int32_t token) const {
  if (std::size_t(node) + 1 < base_row_ptr_.size()) {
    auto begin = base_token_.begin() + base_row_ptr_[node];
    auto end = base_token_.begin() + base_row_ptr_[node + 1];
    auto it = std::lower_bound(begin, end, token);
    if (it != end && *it == token) return base_child_[it - base_token_.begin()];
  }
  auto found = side_.find(node);
  if (found != side_.end()) {
    const auto& edges = found->second;
    auto it = std::lower_bound(edges.begin(), edges.end(), token,
                               [](const Edge& e, int32_t t) { return e.token < t; });
    if (it != edges.end() && it->token == token) return it->child;
  }
  return kNone;
}

int32_t TokenTrie::NewNode(int32_t parent, int32_t token) {
  GRLM_CHECK(live_.size() < std::size_t(kMaxIndex), InvalidArgument, "too many trie nodes");
  const auto node = int32_t(live_.size());
  parent_.push_back(parent);
  token_.push_back(token);
  live_.push_back(0);
  first_item_.push_back(kNone);
  auto& edges = side_[parent];
  auto it = std::lower_bound(edges.begin(), edges.end(), token,
                             [](const Edge& e, int32_t t) { return e.token < t; });
  edges.insert(it, Edge{token, node});
  ++num_side_edges_;
  return node;
}

void TokenTrie::AttachItem(int32_t leaf, int64_t item) {
  if (std::size_t(item) >= item_leaf_.size()) {
    item_leaf_.resize(std::size_t(item) + 1, kNone);
    next_item_.resize(std::size_t(item) + 1, kNone);
  }
  item_leaf_[item] = leaf;
  next_item_[item] = first_item_[leaf];
  first_item_[leaf] = int32_t(item);
  for (int32_t n = leaf; n != kNone; n = parent_[n]) ++live_[n];
  ++num_live_items_;
}

bool TokenTrie::Contains(int64_t item) const {
  return item >= 0 && std::size_t(item) < item_leaf_.size() && item_leaf_[item] != kNone;
}

void TokenTrie::Add(int64_t item, const int32_t* tokens, std::size_t length) {
  CheckItem(item);
  GRLM_CHECK(!Contains(item), InvalidArgument, "item " << item << " is already in the trie");
  CheckSequence(tokens, length);
  int32_t node = kRoot;
  bool grew = false;
  for (std::size_t i = 0; i < length; ++i) {
    int32_t child = AnyChild(node, tokens[i]);
    if (child == kNone) {
      child = NewNode(node, tokens[i]);
      grew = true;
    }
    node = child;
  }
  AttachItem(node, item);
  max_length_ = std::max(max_length_, int32_t(length));
  if (grew) ++structure_version_;
  ++version_;
}

void TokenTrie::AddBatch(const int64_t* items, const int32_t* tokens, const int64_t* offsets,
                         std::size_t n) {
  if (n == 0) return;
  GRLM_CHECK(offsets[0] == 0, InvalidArgument, "offsets must start at 0, got " << offsets[0]);
  std::vector<char> seen;
  for (std::size_t i = 0; i < n; ++i) {
    CheckItem(items[i]);
    GRLM_CHECK(!Contains(items[i]), InvalidArgument,
               "item " << items[i] << " is already in the trie");
    if (seen.size() <= std::size_t(items[i])) seen.resize(std::size_t(items[i]) + 1, 0);
    GRLM_CHECK(!seen[items[i]], InvalidArgument, "item " << items[i] << " appears twice");
    seen[items[i]] = 1;
    GRLM_CHECK(offsets[i + 1] >= offsets[i], InvalidArgument,
               "offsets must not decrease (at " << i << ")");
    CheckSequence(tokens + offsets[i], std::size_t(offsets[i + 1] - offsets[i]));
  }
  if (live_.size() == 1 && side_.empty() && base_token_.empty()) {
    BulkBuild(items, tokens, offsets, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      Add(items[i], tokens + offsets[i], std::size_t(offsets[i + 1] - offsets[i]));
    }
  }
}

void TokenTrie::BulkBuild(const int64_t* items, const int32_t* tokens, const int64_t* offsets,
                          std::size_t n) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  auto seq_less = [&](std::size_t a, std::size_t b) {
    return std::lexicographical_compare(tokens + offsets[a], tokens + offsets[a + 1],
                                        tokens + offsets[b], tokens + offsets[b + 1]);
  };
  std::sort(order.begin(), order.end(), seq_less);

  // Walk the sorted sequences: each shares a prefix with the previous one; the rest are new
  // nodes, created in depth-first order, so each parent's children appear in ascending token
  // order and a counting sort by parent yields the CSR rows.
  std::vector<int32_t> path = {kRoot};  // path[d]: node at depth d of the previous sequence
  const int32_t* prev = nullptr;
  std::size_t prev_len = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = order[k];
    const int32_t* seq = tokens + offsets[i];
    const auto len = std::size_t(offsets[i + 1] - offsets[i]);
    std::size_t common = 0;
    if (prev != nullptr) {
      while (common < len && common < prev_len && seq[common] == prev[common]) ++common;
    }
    path.resize(common + 1);
    for (std::size_t d = common; d < len; ++d) {
      const auto node = int32_t(live_.size());
      GRLM_CHECK(live_.size() < std::size_t(kMaxIndex), InvalidArgument, "too many trie nodes");
      parent_.push_back(path.back());
      token_.push_back(seq[d]);
      live_.push_back(0);
      first_item_.push_back(kNone);
      path.push_back(node);
    }
    AttachItem(path.back(), items[i]);
    max_length_ = std::max(max_length_, int32_t(len));
    prev = seq;
    prev_len = len;
  }
  const std::size_t num_nodes = live_.size();
  base_row_ptr_.assign(num_nodes + 1, 0);
  for (std::size_t v = 1; v < num_nodes; ++v) ++base_row_ptr_[parent_[v] + 1];
  for (std::size_t v = 0; v < num_nodes; ++v) base_row_ptr_[v + 1] += base_row_ptr_[v];
  base_token_.assign(num_nodes - 1, 0);
  base_child_.assign(num_nodes - 1, 0);
  std::vector<int32_t> fill(base_row_ptr_.begin(), base_row_ptr_.end() - 1);
  for (std::size_t v = 1; v < num_nodes; ++v) {
    const int32_t e = fill[parent_[v]]++;
    base_token_[e] = token_[v];
    base_child_[e] = int32_t(v);
  }
  for (auto* v : {&parent_, &token_, &live_, &first_item_, &item_leaf_, &next_item_}) {
    v->shrink_to_fit();
  }
  ++structure_version_;
  ++version_;
}

bool TokenTrie::Remove(int64_t item) {
  if (!Contains(item)) return false;
  const int32_t leaf = item_leaf_[item];
  int32_t* link = &first_item_[leaf];
  while (*link != item) link = &next_item_[*link];
  *link = next_item_[item];
  next_item_[item] = kNone;
  item_leaf_[item] = kNone;
  for (int32_t n = leaf; n != kNone; n = parent_[n]) --live_[n];
  --num_live_items_;
  ++version_;
  return true;
}

int32_t TokenTrie::Child(int32_t node, int32_t token) const {
  CheckNode(node);
  const int32_t child = AnyChild(node, token);
  return (child != kNone && live_[child] > 0) ? child : kNone;
}

int32_t TokenTrie::Walk(const int32_t* tokens, std::size_t length) const {
  int32_t node = kRoot;
  if (live_[kRoot] == 0) return kNone;
  for (std::size_t i = 0; i < length && node != kNone; ++i) node = Child(node, tokens[i]);
  return node;
}

std::vector<int32_t> TokenTrie::AllowedTokens(int32_t node) const {
  CheckNode(node);
  std::vector<int32_t> out;
  if (std::size_t(node) + 1 < base_row_ptr_.size()) {
    for (int32_t e = base_row_ptr_[node]; e < base_row_ptr_[node + 1]; ++e) {
      if (live_[base_child_[e]] > 0) out.push_back(base_token_[e]);
    }
  }
  auto found = side_.find(node);
  if (found != side_.end()) {
    for (const Edge& e : found->second) {
      if (live_[e.child] > 0) out.push_back(e.token);
    }
    std::sort(out.begin(), out.end());
  }
  return out;
}

std::vector<int64_t> TokenTrie::ItemsAt(int32_t node) const {
  CheckNode(node);
  std::vector<int64_t> out;
  for (int32_t it = first_item_[node]; it != kNone; it = next_item_[it]) out.push_back(it);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int32_t> TokenTrie::Sequence(int64_t item) const {
  GRLM_CHECK(Contains(item), InvalidArgument, "item " << item << " is not in the trie");
  std::vector<int32_t> out;
  for (int32_t n = item_leaf_[item]; n != kRoot; n = parent_[n]) out.push_back(token_[n]);
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<int32_t> TokenTrie::PathNodes(int64_t item) const {
  GRLM_CHECK(Contains(item), InvalidArgument, "item " << item << " is not in the trie");
  std::vector<int32_t> out;
  for (int32_t n = item_leaf_[item]; n != kNone; n = parent_[n]) out.push_back(n);
  std::reverse(out.begin(), out.end());
  return out;
}

void TokenTrie::Compact() {
  if (side_.empty() && base_row_ptr_.size() == live_.size() + 1) return;
  const std::size_t num_nodes = live_.size();
  const std::size_t old_nodes = base_row_ptr_.size() - 1;
  std::vector<int32_t> row_ptr(num_nodes + 1, 0);
  for (std::size_t v = 0; v < num_nodes; ++v) {
    int32_t degree = v < old_nodes ? base_row_ptr_[v + 1] - base_row_ptr_[v] : 0;
    auto found = side_.find(int32_t(v));
    if (found != side_.end()) degree += int32_t(found->second.size());
    row_ptr[v + 1] = row_ptr[v] + degree;
  }
  std::vector<int32_t> token(row_ptr.back());
  std::vector<int32_t> child(row_ptr.back());
  for (std::size_t v = 0; v < num_nodes; ++v) {
    int32_t out = row_ptr[v];
    int32_t b = v < old_nodes ? base_row_ptr_[v] : 0;
    const int32_t b_end = v < old_nodes ? base_row_ptr_[v + 1] : 0;
    auto found = side_.find(int32_t(v));
    const Edge* s = nullptr;
    const Edge* s_end = nullptr;
    if (found != side_.end()) {
      s = found->second.data();
      s_end = s + found->second.size();
    }
    while (b < b_end || s != s_end) {
      if (s == s_end || (b < b_end && base_token_[b] < s->token)) {
        token[out] = base_token_[b];
        child[out++] = base_child_[b++];
      } else {
        token[out] = s->token;
        child[out++] = s->child;
        ++s;
      }
    }
  }
  base_row_ptr_ = std::move(row_ptr);
  base_token_ = std::move(token);
  base_child_ = std::move(child);
  side_.clear();
  num_side_edges_ = 0;
}

TokenTrieArrays TokenTrie::Export() {
  Compact();
  TokenTrieArrays out;
  out.row_ptr = base_row_ptr_;
  out.child_token = base_token_;
  out.child_node = base_child_;
  out.live = live_;
  const std::size_t num_nodes = live_.size();
  out.item_ptr.assign(num_nodes + 1, 0);
  for (std::size_t v = 0; v < num_nodes; ++v) {
    int32_t count = 0;
    for (int32_t it = first_item_[v]; it != kNone; it = next_item_[it]) ++count;
    out.item_ptr[v + 1] = out.item_ptr[v] + count;
  }
  out.items.resize(out.item_ptr.back());
  for (std::size_t v = 0; v < num_nodes; ++v) {
    int32_t pos = out.item_ptr[v];
    for (int32_t it = first_item_[v]; it != kNone; it = next_item_[it]) out.items[pos++] = it;
    std::sort(out.items.begin() + out.item_ptr[v], out.items.begin() + pos);
  }
  return out;
}

std::size_t TokenTrie::MemoryBytes() const {
  std::size_t bytes = sizeof(int32_t) * (base_row_ptr_.capacity() + base_token_.capacity() +
                                         base_child_.capacity() + parent_.capacity() +
                                         token_.capacity() + live_.capacity() +
                                         first_item_.capacity() + item_leaf_.capacity() +
                                         next_item_.capacity());
  for (const auto& [node, edges] : side_) bytes += sizeof(node) + sizeof(Edge) * edges.capacity();
  return bytes;
}

}  // namespace grlm
