#include "grlm/index_file.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <type_traits>

#include "grlm/error.h"

namespace grlm {
namespace {

constexpr char kMagic[8] = {'G', 'R', 'L', 'M', 'I', 'D', 'X', '\0'};
constexpr uint32_t kFormatVersion = 1;

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

class Writer {
 public:
  template <typename T>
  void Put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint32_t>(uint32_t(s.size()));
    out_.append(s);
  }
  template <typename T>
  void PutArray(const std::vector<T>& v) {
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const std::string& bytes, const std::string& path) : bytes_(bytes), path_(path) {}
  template <typename T>
  T Get() {
    T value;
    std::memcpy(&value, Take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string GetString() {
    const auto size = Get<uint32_t>();
    return std::string(Take(size), size);
  }
  template <typename T>
  std::vector<T> GetArray(std::size_t count) {
    GRLM_CHECK(count <= (bytes_.size() - pos_) / sizeof(T), IndexFileError,
               path_ << ": index file is truncated or corrupted (array of " << count << " elements)");
    std::vector<T> v(count);
    std::memcpy(v.data(), Take(count * sizeof(T)), count * sizeof(T));
    return v;
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  const char* Take(std::size_t n) {
    GRLM_CHECK(n <= bytes_.size() - pos_, IndexFileError, path_ << ": index file is truncated or corrupted");
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  const std::string& bytes_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

}  // namespace

void SaveIndex(const Grounder& grounder, const std::string& path) {
  const Catalog& c = grounder.catalog();
  Writer payload;
  payload.Put<uint32_t>(uint32_t(c.term_id_length()));
  payload.Put<uint8_t>(uint8_t(grounder.mode()));
  payload.PutArray(grounder.scorer().weights());
  payload.Put<uint32_t>(uint32_t(c.vocab().size()));
  for (const auto& term : c.vocab().terms()) payload.PutString(term);
  payload.Put<uint32_t>(uint32_t(c.size()));
  for (const auto& id : c.item_ids()) payload.PutString(id);
  payload.PutArray(c.terms());
  payload.Put<uint8_t>(c.has_priors() ? 1 : 0);
  payload.PutArray(c.priors());

  Writer file;
  const std::string& body = payload.bytes();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    GRLM_CHECK(out.good(), Error, "cannot write " << tmp);
    out.write(kMagic, sizeof(kMagic));
    file.Put<uint32_t>(kFormatVersion);
    file.Put<uint64_t>(body.size());
    out.write(file.bytes().data(), std::streamsize(file.bytes().size()));
    out.write(body.data(), std::streamsize(body.size()));
    const uint64_t checksum = Fnv1a(body);
    out.write(reinterpret_cast<const char*>(&checksum), sizeof(checksum));
    out.flush();
    GRLM_CHECK(out.good(), Error, "failed writing " << tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    GRLM_CHECK(false, Error, "cannot rename " << tmp << " to " << path);
  }
}

Grounder LoadIndex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GRLM_CHECK(in.good(), IndexFileError, path << ": cannot open index file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Reader header(bytes, path);
  char magic[sizeof(kMagic)];
  for (char& ch : magic) ch = header.Get<char>();
  GRLM_CHECK(std::memcmp(magic, kMagic, sizeof(kMagic)) == 0, IndexFileError,
             path << ": not a grlm index file (bad magic)");
  const auto version = header.Get<uint32_t>();
  GRLM_CHECK(version == kFormatVersion, IndexFileError,
             path << ": index format version " << version << " is not supported (expected "
                  << kFormatVersion << ")");
  const auto size = header.Get<uint64_t>();
  const std::size_t body_start = sizeof(kMagic) + sizeof(uint32_t) + sizeof(uint64_t);
  GRLM_CHECK(bytes.size() == body_start + size + sizeof(uint64_t), IndexFileError,
             path << ": index file is truncated (" << bytes.size() << " bytes, expected "
                  << body_start + size + sizeof(uint64_t) << ")");
  const std::string body = bytes.substr(body_start, size);
  uint64_t checksum;
  std::memcpy(&checksum, bytes.data() + body_start + size, sizeof(checksum));
  GRLM_CHECK(checksum == Fnv1a(body), IndexFileError, path << ": index file is corrupted (checksum mismatch)");

  Reader r(body, path);
  const auto length = r.Get<uint32_t>();
  GRLM_CHECK(length >= 1 && length <= uint32_t(kMaxTermIdLength), IndexFileError,
             path << ": bad Term ID length " << length);
  const auto mode = r.Get<uint8_t>();
  GRLM_CHECK(mode <= uint8_t(ScoreMode::kBag), IndexFileError, path << ": bad score mode " << int(mode));
  auto weights = r.GetArray<double>(length);
  Catalog catalog{int(length)};
  const auto num_terms = r.Get<uint32_t>();
  for (uint32_t t = 0; t < num_terms; ++t) {
    const std::string term = r.GetString();
    GRLM_CHECK(catalog.mutable_vocab().Intern(term) == t, IndexFileError,
               path << ": vocabulary entry " << t << " is not a distinct normalized term");
  }
  const auto num_items = r.Get<uint32_t>();
  std::vector<std::string> ids(num_items);
  for (auto& id : ids) id = r.GetString();
  const auto terms = r.GetArray<TermId>(std::size_t(num_items) * length);
  for (TermId t : terms) {
    GRLM_CHECK(t < num_terms || t == kPadTerm, IndexFileError, path << ": term id " << t << " out of range");
  }
  for (uint32_t i = 0; i < num_items; ++i) catalog.AddEncodedItem(ids[i], terms.data() + std::size_t(i) * length);
  if (r.Get<uint8_t>()) catalog.SetPriors(r.GetArray<double>(num_items));
  GRLM_CHECK(r.done(), IndexFileError, path << ": unexpected bytes after the index");
  return Grounder(std::move(catalog), ScoreMode(mode), std::move(weights));
}

}  // namespace grlm
