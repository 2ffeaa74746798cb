#include "grlm/token_trie.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>

#include "grlm/error.h"

namespace grlm {

namespace {
constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max() - 1;

struct Edge {
  int32_t token;
  int32_t child;
};
}  // namespace

// One immutable state of the trie. Published snapshots are never written again: a change edits a
// private copy and publishes it whole.
struct TokenTrie::Snapshot {
  // CSR over all nodes: children of node n are edges row_ptr[n] .. row_ptr[n+1]-1, by token.
  std::vector<int32_t> row_ptr = {0, 0};  // the root, with no children yet
  std::vector<int32_t> child_token;
  std::vector<int32_t> child_node;
  // Per node.
  std::vector<int32_t> parent = {kNone};
  std::vector<int32_t> token = {kNone};  // token of the edge into the node (kNone for the root)
  std::vector<int32_t> live = {0};
  std::vector<int32_t> first_item = {kNone};  // head of the list of items ending here, or kNone
  // Per item (dense index).
  std::vector<int32_t> item_leaf;  // kNone when absent
  std::vector<int32_t> next_item;
  std::size_t num_live_items = 0;
  int32_t max_length = 0;
  uint64_t structure_version = 0;
  uint64_t version = 0;

  std::size_t num_nodes() const { return live.size(); }

  bool Contains(int64_t item) const {
    return item >= 0 && std::size_t(item) < item_leaf.size() && item_leaf[item] != kNone;
  }

  void CheckNode(int32_t node) const {
    GRLM_CHECK(node >= 0 && std::size_t(node) < num_nodes(), InvalidArgument,
               "node " << node << " out of range [0, " << num_nodes() << ")");
  }

  // Child of node for token, live or not, or kNone.
  int32_t AnyChild(int32_t node, int32_t tok) const {
    const auto begin = child_token.begin() + row_ptr[node];
    const auto end = child_token.begin() + row_ptr[node + 1];
    const auto it = std::lower_bound(begin, end, tok);
    return (it != end && *it == tok) ? child_node[it - child_token.begin()] : kNone;
  }

  int32_t LiveChild(int32_t node, int32_t tok) const {
    const int32_t child = AnyChild(node, tok);
    return (child != kNone && live[child] > 0) ? child : kNone;
  }
};

// A change in progress: holds the writer lock, edits a copy of the current snapshot and publishes
// it at Commit. Destroyed without Commit (an exception), it leaves the trie as it was.
class TokenTrie::Change {
 public:
  explicit Change(TokenTrie& trie)
      : lock_(trie.write_mutex_), trie_(trie), next_(std::make_shared<Snapshot>(*trie.Load())) {}

  Snapshot& next() { return *next_; }

  // Child of node for token, created (as a pending edge) when missing.
  int32_t ChildOrNew(int32_t node, int32_t token) {
    if (std::size_t(node) + 1 < next_->row_ptr.size()) {
      const int32_t child = next_->AnyChild(node, token);
      if (child != kNone) return child;
    }
    auto& edges = pending_[node];
    auto it = std::lower_bound(edges.begin(), edges.end(), token,
                               [](const Edge& e, int32_t t) { return e.token < t; });
    if (it != edges.end() && it->token == token) return it->child;
    const int32_t child = NewNode(node, token);
    edges.insert(it, Edge{token, child});
    return child;
  }

  // A node without an edge into it yet (the caller records the edge).
  int32_t NewNode(int32_t parent, int32_t token) {
    Snapshot& s = *next_;
    GRLM_CHECK(s.num_nodes() < std::size_t(kMaxIndex), InvalidArgument, "too many trie nodes");
    const auto node = int32_t(s.num_nodes());
    s.parent.push_back(parent);
    s.token.push_back(token);
    s.live.push_back(0);
    s.first_item.push_back(kNone);
    return node;
  }

  void AttachItem(int32_t leaf, int64_t item, std::size_t length) {
    Snapshot& s = *next_;
    if (std::size_t(item) >= s.item_leaf.size()) {
      s.item_leaf.resize(std::size_t(item) + 1, kNone);
      s.next_item.resize(std::size_t(item) + 1, kNone);
    }
    s.item_leaf[item] = leaf;
    s.next_item[item] = s.first_item[leaf];
    s.first_item[leaf] = int32_t(item);
    for (int32_t n = leaf; n != kNone; n = s.parent[n]) ++s.live[n];
    ++s.num_live_items;
    s.max_length = std::max(s.max_length, int32_t(length));
  }

  void Commit() {
    Snapshot& s = *next_;
    if (s.row_ptr.size() != s.num_nodes() + 1 || !pending_.empty()) {
      MergePendingEdges();
      ++s.structure_version;
    }
    ++s.version;
    trie_.Publish(std::move(next_));
  }

 private:
  // Rebuilds the CSR arrays with the pending edges merged into each row (rows stay sorted).
  void MergePendingEdges() {
    Snapshot& s = *next_;
    const std::size_t num_nodes = s.num_nodes();
    const std::size_t old_nodes = s.row_ptr.size() - 1;
    auto pending_of = [&](std::size_t v) -> const std::vector<Edge>* {
      const auto found = pending_.find(int32_t(v));
      return found == pending_.end() ? nullptr : &found->second;
    };
    std::vector<int32_t> row_ptr(num_nodes + 1, 0);
    for (std::size_t v = 0; v < num_nodes; ++v) {
      int32_t degree = v < old_nodes ? s.row_ptr[v + 1] - s.row_ptr[v] : 0;
      if (const auto* edges = pending_of(v)) degree += int32_t(edges->size());
      row_ptr[v + 1] = row_ptr[v] + degree;
    }
    std::vector<int32_t> token(row_ptr.back());
    std::vector<int32_t> child(row_ptr.back());
    for (std::size_t v = 0; v < num_nodes; ++v) {
      int32_t out = row_ptr[v];
      int32_t b = v < old_nodes ? s.row_ptr[v] : 0;
      const int32_t b_end = v < old_nodes ? s.row_ptr[v + 1] : 0;
      const Edge* p = nullptr;
      const Edge* p_end = nullptr;
      if (const auto* edges = pending_of(v)) {
        p = edges->data();
        p_end = p + edges->size();
      }
      while (b < b_end || p != p_end) {
        if (p == p_end || (b < b_end && s.child_token[b] < p->token)) {
          token[out] = s.child_token[b];
          child[out++] = s.child_node[b++];
        } else {
          token[out] = p->token;
          child[out++] = p->child;
          ++p;
        }
      }
    }
    s.row_ptr = std::move(row_ptr);
    s.child_token = std::move(token);
    s.child_node = std::move(child);
    pending_.clear();
  }

  std::unique_lock<std::mutex> lock_;
  TokenTrie& trie_;
  std::shared_ptr<Snapshot> next_;
  std::map<int32_t, std::vector<Edge>> pending_;  // new edges by parent node, sorted by token
};

TokenTrie::TokenTrie(int32_t end_token)
    : end_token_(end_token), snapshot_(std::make_shared<const Snapshot>()) {
  GRLM_CHECK(end_token >= 0, InvalidArgument, "end token must be >= 0, got " << end_token);
}

namespace {

void CheckItem(int64_t item) {
  GRLM_CHECK(item >= 0 && item <= kMaxIndex, InvalidArgument,
             "item index must be in [0, " << kMaxIndex << "], got " << item);
}

void CheckSequence(const int32_t* tokens, std::size_t length, int32_t end_token) {
  GRLM_CHECK(length > 0, InvalidArgument, "empty token sequence");
  GRLM_CHECK(tokens[length - 1] == end_token, InvalidArgument,
             "token sequence must end with the end token " << end_token << ", ends with "
                                                           << tokens[length - 1]);
  for (std::size_t i = 0; i + 1 < length; ++i) {
    GRLM_CHECK(tokens[i] >= 0, InvalidArgument,
               "negative token " << tokens[i] << " at position " << i);
    GRLM_CHECK(tokens[i] != end_token, InvalidArgument,
               "end token " << end_token << " inside a sequence at position " << i);
  }
}

}  // namespace

void TokenTrie::Add(int64_t item, const int32_t* tokens, std::size_t length) {
  const int64_t offsets[2] = {0, int64_t(length)};
  AddBatch(&item, tokens, offsets, 1);
}

void TokenTrie::AddBatch(const int64_t* items, const int32_t* tokens, const int64_t* offsets,
                         std::size_t n) {
  if (n == 0) return;
  GRLM_CHECK(offsets[0] == 0, InvalidArgument, "offsets must start at 0, got " << offsets[0]);
  Change change(*this);
  Snapshot& s = change.next();
  std::vector<char> seen;
  for (std::size_t i = 0; i < n; ++i) {
    CheckItem(items[i]);
    GRLM_CHECK(!s.Contains(items[i]), InvalidArgument,
               "item " << items[i] << " is already in the trie");
    if (seen.size() <= std::size_t(items[i])) seen.resize(std::size_t(items[i]) + 1, 0);
    GRLM_CHECK(!seen[items[i]], InvalidArgument, "item " << items[i] << " appears twice");
    seen[items[i]] = 1;
    GRLM_CHECK(offsets[i + 1] >= offsets[i], InvalidArgument,
               "offsets must not decrease (at " << i << ")");
    CheckSequence(tokens + offsets[i], std::size_t(offsets[i + 1] - offsets[i]), end_token_);
  }
  if (s.num_nodes() == 1) {
    // An empty trie: build the rows in one pass over the sorted sequences.
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return std::lexicographical_compare(tokens + offsets[a], tokens + offsets[a + 1],
                                          tokens + offsets[b], tokens + offsets[b + 1]);
    });
    // Each sorted sequence shares a prefix with the previous one; the rest are new nodes,
    // created depth first, so every parent's children are created in ascending token order and
    // a counting sort by parent yields the CSR rows.
    std::vector<int32_t> path = {kRoot};  // path[d]: node at depth d of the previous sequence
    const int32_t* prev = nullptr;
    std::size_t prev_len = 0;
    for (std::size_t i : order) {
      const int32_t* seq = tokens + offsets[i];
      const auto len = std::size_t(offsets[i + 1] - offsets[i]);
      std::size_t common = 0;
      if (prev != nullptr) {
        while (common < len && common < prev_len && seq[common] == prev[common]) ++common;
      }
      path.resize(common + 1);
      for (std::size_t d = common; d < len; ++d) {
        path.push_back(change.NewNode(path.back(), seq[d]));
      }
      change.AttachItem(path.back(), items[i], len);
      prev = seq;
      prev_len = len;
    }
    const std::size_t num_nodes = s.num_nodes();
    s.row_ptr.assign(num_nodes + 1, 0);
    for (std::size_t v = 1; v < num_nodes; ++v) ++s.row_ptr[s.parent[v] + 1];
    for (std::size_t v = 0; v < num_nodes; ++v) s.row_ptr[v + 1] += s.row_ptr[v];
    s.child_token.assign(num_nodes - 1, 0);
    s.child_node.assign(num_nodes - 1, 0);
    std::vector<int32_t> fill(s.row_ptr.begin(), s.row_ptr.end() - 1);
    for (std::size_t v = 1; v < num_nodes; ++v) {
      const int32_t e = fill[s.parent[v]]++;
      s.child_token[e] = s.token[v];
      s.child_node[e] = int32_t(v);
    }
    for (auto* v : {&s.parent, &s.token, &s.live, &s.first_item, &s.item_leaf, &s.next_item}) {
      v->shrink_to_fit();
    }
    if (num_nodes > 1) ++s.structure_version;
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const int32_t* seq = tokens + offsets[i];
      const auto len = std::size_t(offsets[i + 1] - offsets[i]);
      int32_t node = kRoot;
      for (std::size_t d = 0; d < len; ++d) node = change.ChildOrNew(node, seq[d]);
      change.AttachItem(node, items[i], len);
    }
  }
  change.Commit();
}

bool TokenTrie::Remove(int64_t item) {
  if (!Contains(item)) return false;  // no copy for a no-op
  Change change(*this);
  Snapshot& s = change.next();
  if (!s.Contains(item)) return false;  // removed by another writer meanwhile
  const int32_t leaf = s.item_leaf[item];
  int32_t* link = &s.first_item[leaf];
  while (*link != item) link = &s.next_item[*link];
  *link = s.next_item[item];
  s.next_item[item] = kNone;
  s.item_leaf[item] = kNone;
  for (int32_t n = leaf; n != kNone; n = s.parent[n]) --s.live[n];
  --s.num_live_items;
  change.Commit();
  return true;
}

bool TokenTrie::Contains(int64_t item) const { return Load()->Contains(item); }

int32_t TokenTrie::Child(int32_t node, int32_t token) const {
  const auto s = Load();
  s->CheckNode(node);
  return s->LiveChild(node, token);
}

int32_t TokenTrie::Walk(const int32_t* tokens, std::size_t length) const {
  const auto s = Load();
  if (s->live[kRoot] == 0) return kNone;
  int32_t node = kRoot;
  for (std::size_t i = 0; i < length && node != kNone; ++i) node = s->LiveChild(node, tokens[i]);
  return node;
}

std::vector<int32_t> TokenTrie::AllowedTokens(int32_t node) const {
  const auto s = Load();
  s->CheckNode(node);
  std::vector<int32_t> out;
  for (int32_t e = s->row_ptr[node]; e < s->row_ptr[node + 1]; ++e) {
    if (s->live[s->child_node[e]] > 0) out.push_back(s->child_token[e]);
  }
  return out;
}

std::vector<int64_t> TokenTrie::ItemsAt(int32_t node) const {
  const auto s = Load();
  s->CheckNode(node);
  std::vector<int64_t> out;
  for (int32_t it = s->first_item[node]; it != kNone; it = s->next_item[it]) out.push_back(it);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int32_t> TokenTrie::Sequence(int64_t item) const {
  const auto s = Load();
  GRLM_CHECK(s->Contains(item), InvalidArgument, "item " << item << " is not in the trie");
  std::vector<int32_t> out;
  for (int32_t n = s->item_leaf[item]; n != kRoot; n = s->parent[n]) out.push_back(s->token[n]);
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<int32_t> TokenTrie::PathNodes(int64_t item) const {
  const auto s = Load();
  GRLM_CHECK(s->Contains(item), InvalidArgument, "item " << item << " is not in the trie");
  std::vector<int32_t> out;
  for (int32_t n = s->item_leaf[item]; n != kNone; n = s->parent[n]) out.push_back(n);
  std::reverse(out.begin(), out.end());
  return out;
}

TokenTrieArrays TokenTrie::Export() const {
  const auto s = Load();
  TokenTrieArrays out;
  out.row_ptr = s->row_ptr;
  out.child_token = s->child_token;
  out.child_node = s->child_node;
  out.live = s->live;
  const std::size_t num_nodes = s->num_nodes();
  out.item_ptr.assign(num_nodes + 1, 0);
  for (std::size_t v = 0; v < num_nodes; ++v) {
    int32_t count = 0;
    for (int32_t it = s->first_item[v]; it != kNone; it = s->next_item[it]) ++count;
    out.item_ptr[v + 1] = out.item_ptr[v] + count;
  }
  out.items.resize(out.item_ptr.back());
  for (std::size_t v = 0; v < num_nodes; ++v) {
    int32_t pos = out.item_ptr[v];
    for (int32_t it = s->first_item[v]; it != kNone; it = s->next_item[it]) out.items[pos++] = it;
    std::sort(out.items.begin() + out.item_ptr[v], out.items.begin() + pos);
  }
  return out;
}

std::size_t TokenTrie::num_items() const { return Load()->num_live_items; }
std::size_t TokenTrie::num_nodes() const { return Load()->num_nodes(); }
std::size_t TokenTrie::num_edges() const { return Load()->child_token.size(); }
int32_t TokenTrie::max_length() const { return Load()->max_length; }
uint64_t TokenTrie::structure_version() const { return Load()->structure_version; }
uint64_t TokenTrie::version() const { return Load()->version; }

std::size_t TokenTrie::MemoryBytes() const {
  const auto s = Load();
  std::size_t ints = 0;
  for (const auto* v : {&s->row_ptr, &s->child_token, &s->child_node, &s->parent, &s->token,
                        &s->live, &s->first_item, &s->item_leaf, &s->next_item}) {
    ints += v->capacity();
  }
  return sizeof(int32_t) * ints;
}

}  // namespace grlm
