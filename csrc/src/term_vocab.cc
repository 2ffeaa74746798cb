#include "grlm/term_vocab.h"

#include "grlm/error.h"
#include "utf8.h"

namespace grlm {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool IsNormalized(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  char previous = 0;
  for (char c : s) {
    if ((c >= 'A' && c <= 'Z') || (IsSpace(c) && (c != ' ' || previous == ' '))) return false;
    previous = c;
  }
  return true;
}

}  // namespace

std::string_view TermVocab::NormalizeInto(std::string_view raw, std::string* out) {
  GRLM_CHECK(IsValidUtf8(raw), InvalidArgument, "term is not valid UTF-8");
  if (IsNormalized(raw)) return raw;
  out->clear();
  bool pending_space = false;
  for (char c : raw) {
    if (IsSpace(c)) {
      pending_space = !out->empty();
      continue;
    }
    if (pending_space) out->push_back(' ');
    pending_space = false;
    out->push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
  }
  GRLM_CHECK(!out->empty(), InvalidArgument, "term is empty after normalization: '" << raw << "'");
  return *out;
}

std::string TermVocab::Normalize(std::string_view raw) {
  std::string buffer;
  return std::string(NormalizeInto(raw, &buffer));
}

uint64_t TermVocab::HashState(std::string_view s) {
  uint64_t state = kHashSeed;
  for (unsigned char c : s) state = HashStep(state, c);
  return state;
}

TermId TermVocab::Intern(std::string_view raw) {
  std::string buffer;
  const std::string_view term = NormalizeInto(raw, &buffer);
  GRLM_CHECK(term.size() <= kMaxTermBytes, InvalidArgument,
             "a catalog term has at most " << kMaxTermBytes << " bytes, got " << term.size()
                                           << ": '" << Utf8Prefix(term, 40) << "...'");
  GRLM_CHECK(terms_.size() < kPadTerm, InvalidArgument, "term vocabulary is full");
  const auto next = TermId(terms_.size());
  const TermId id =
      ids_.Insert(MixHash(HashState(term)), next, [&](uint32_t t) { return terms_[t] == term; });
  if (id == next) terms_.emplace_back(term);
  return id;
}

TermId TermVocab::FindNormalized(std::string_view normalized) const {
  return FindNormalizedByState(normalized, HashState(normalized));
}

TermId TermVocab::FindNormalizedByState(std::string_view normalized, uint64_t hash_state) const {
  // FNV-1a's low bits are weak and choose the slot: mix them.
  const uint32_t id =
      ids_.Find(MixHash(hash_state), [&](uint32_t t) { return terms_[t] == normalized; });
  return id == FlatHashIndex::kEmpty ? kUnknownTerm : id;
}

std::size_t TermVocab::MemoryBytes() const {
  std::size_t bytes = ids_.MemoryBytes() + terms_.capacity() * sizeof(std::string);
  for (const auto& t : terms_) bytes += t.size() > 15 ? t.capacity() + 1 : 0;  // beyond SSO
  return bytes;
}

TermId TermVocab::Find(std::string_view raw) const {
  std::string buffer;
  return FindNormalized(NormalizeInto(raw, &buffer));
}

}  // namespace grlm
