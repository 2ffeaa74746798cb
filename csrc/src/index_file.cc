#include "grlm/index_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <random>
#include <span>
#include <string_view>
#include <type_traits>

#include "grlm/error.h"

namespace grlm {
namespace {

constexpr char kMagic[8] = {'G', 'R', 'L', 'M', 'I', 'D', 'X', '\0'};
constexpr uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = sizeof(kMagic) + sizeof(uint32_t) + sizeof(uint64_t);
constexpr std::size_t kChecksumBytes = sizeof(uint64_t);

uint64_t Fnv1a(std::string_view bytes) {
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
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// Reads the fields of an index file in order. Every read names its field, and every count is
// checked against the bytes that remain before anything is allocated for it, so a damaged file
// costs no more memory than its own size.
class Reader {
 public:
  Reader(std::string_view bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  template <typename T>
  T Get(const char* field) {
    T value;
    std::memcpy(&value, Take(sizeof(T), field), sizeof(T));
    return value;
  }
  // A count of elements that each take at least min_bytes in the rest of the file.
  uint32_t GetCount(const char* field, std::size_t min_bytes) {
    const auto count = Get<uint32_t>(field);
    GRLM_CHECK(count <= remaining() / min_bytes, IndexFileError,
               path_ << ": field '" << field << "' = " << count << " needs at least "
                     << std::size_t(count) * min_bytes << " bytes but " << remaining()
                     << " remain");
    return count;
  }
  std::string GetString(const char* field) {
    const auto size = Get<uint32_t>(field);
    return std::string(Take(size, field), size);
  }
  template <typename T>
  std::vector<T> GetArray(std::size_t count, const char* field) {
    GRLM_CHECK(count <= remaining() / sizeof(T), IndexFileError,
               path_ << ": field '" << field << "' (" << count << " values) is truncated");
    std::vector<T> v(count);
    const char* bytes = Take(count * sizeof(T), field);
    if (count > 0) std::memcpy(v.data(), bytes, count * sizeof(T));  // data() may be null at 0
    return v;
  }
  std::size_t remaining() const { return bytes_.size() - pos_; }

 private:
  const char* Take(std::size_t n, const char* field) {
    GRLM_CHECK(n <= remaining(), IndexFileError,
               path_ << ": field '" << field << "' is truncated (" << n << " bytes wanted, "
                     << remaining() << " remain)");
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string_view bytes_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

std::string SystemError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Checks the header at the start of bytes (magic, format version, payload size against
// file_size, the size of the whole file) and returns the payload size. Runs before anything but
// the header is read, so a file of another kind costs no memory and no reading.
uint64_t CheckHeader(std::string_view bytes, uint64_t file_size, const std::string& path) {
  Reader header(bytes.substr(0, kHeaderBytes), path);
  char magic[sizeof(kMagic)];
  for (char& ch : magic) ch = header.Get<char>("magic");
  GRLM_CHECK(std::memcmp(magic, kMagic, sizeof(kMagic)) == 0, IndexFileError,
             path << ": not a grlm index file (bad magic)");
  const auto version = header.Get<uint32_t>("format version");
  GRLM_CHECK(version == kFormatVersion, IndexFileError,
             path << ": index format version " << version << " is not supported (expected "
                  << kFormatVersion << ")");
  const auto size = header.Get<uint64_t>("payload size");
  // Compared with what remains, never summed with the header: a huge size must not wrap around.
  const uint64_t after_header = file_size - kHeaderBytes;
  GRLM_CHECK(after_header >= kChecksumBytes && size == after_header - kChecksumBytes,
             IndexFileError,
             path << ": field 'payload size' = " << size << " but the file holds " << after_header
                  << " bytes after the header (truncated or damaged)");
  return size;
}

// Reads exactly bytes.size() bytes at the descriptor's position; an error message, or "".
std::string ReadExactly(int fd, std::span<char> bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got > 0) {
      done += std::size_t(got);
    } else if (got == 0) {
      return path + ": index file shrank while being read";
    } else if (errno != EINTR) {
      return SystemError("cannot read index file", path);
    }
  }
  return "";
}

// The whole file, read through one descriptor so that what is checked (a regular file, its size,
// its header) is what is read. Anything but a regular file is refused before it is opened (a
// FIFO's open would wait for a writer), and the header is checked before the rest is read.
std::string ReadIndexFile(const std::string& path) {
  struct stat info{};
  GRLM_CHECK(::stat(path.c_str(), &info) == 0, IndexFileError,
             SystemError("cannot open index file", path));
  GRLM_CHECK(S_ISREG(info.st_mode), IndexFileError,
             path << ": not a regular file" << (S_ISDIR(info.st_mode) ? " (a directory)" : ""));
  // O_NONBLOCK: should a FIFO replace the file meanwhile, its open does not wait (fstat then
  // refuses it); it changes nothing for a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  GRLM_CHECK(fd >= 0, IndexFileError, SystemError("cannot open index file", path));
  std::string bytes;
  std::string error;
  if (::fstat(fd, &info) != 0) {
    error = SystemError("cannot stat index file", path);
  } else if (!S_ISREG(info.st_mode)) {
    error = path + ": not a regular file";
  } else {
    const auto file_size = uint64_t(info.st_size);
    std::string header(std::min<uint64_t>(file_size, kHeaderBytes), '\0');
    error = ReadExactly(fd, header, path);
    try {
      if (error.empty()) CheckHeader(header, file_size, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (error.empty()) {
      bytes.reserve(std::size_t(file_size));  // std::bad_alloc for a file larger than memory
      bytes = std::move(header);
      bytes.resize(std::size_t(file_size));
      error = ReadExactly(fd, std::span<char>(bytes).subspan(kHeaderBytes), path);
    }
  }
  ::close(fd);
  GRLM_CHECK(error.empty(), IndexFileError, error);
  return bytes;
}

Grounder ParseIndex(std::string_view bytes, const std::string& path) {
  const uint64_t size = CheckHeader(bytes, bytes.size(), path);
  const std::string_view body = bytes.substr(kHeaderBytes, size);
  uint64_t checksum;
  std::memcpy(&checksum, bytes.data() + kHeaderBytes + size, sizeof(checksum));
  GRLM_CHECK(checksum == Fnv1a(body), IndexFileError,
             path << ": index file is corrupted (checksum mismatch)");

  Reader r(body, path);
  const char* field = "term_id_length";
  try {
    const auto length = r.Get<uint32_t>(field);
    GRLM_CHECK(
        length >= 1 && length <= uint32_t(kMaxTermIdLength), IndexFileError,
        path << ": field 'term_id_length' = " << length << " is not in 1.." << kMaxTermIdLength);
    field = "mode";
    const auto mode = r.Get<uint8_t>(field);
    GRLM_CHECK(mode <= uint8_t(ScoreMode::kBag), IndexFileError,
               path << ": field 'mode' = " << int(mode) << " is not a score mode");
    field = "weights";
    auto weights = r.GetArray<double>(length, field);
    Catalog catalog{int(length)};
    field = "terms";
    const auto num_terms = r.GetCount("number of terms", sizeof(uint32_t) + 1);
    for (uint32_t t = 0; t < num_terms; ++t) {
      const std::string term = r.GetString(field);
      GRLM_CHECK(catalog.mutable_vocab().Intern(term) == t && catalog.vocab().Term(t) == term,
                 IndexFileError,
                 path << ": field 'terms': entry " << t << " is not a distinct normalized term");
    }
    field = "item ids";
    // Each item takes its id (a length and at least one byte) and its L term ids.
    const auto num_items =
        r.GetCount("number of items", sizeof(uint32_t) + 1 + sizeof(TermId) * length);
    std::vector<std::string> ids(num_items);
    for (auto& id : ids) id = r.GetString(field);
    field = "item terms";
    const auto terms = r.GetArray<TermId>(std::size_t(num_items) * length, field);
    for (TermId t : terms) {
      GRLM_CHECK(t < num_terms || t == kPadTerm, IndexFileError,
                 path << ": field 'item terms': term id " << t << " out of range");
    }
    field = "item ids";
    for (uint32_t i = 0; i < num_items; ++i) {
      catalog.AddEncodedItem(ids[i], terms.data() + std::size_t(i) * length);
    }
    field = "priors";
    const auto has_priors = r.Get<uint8_t>("has priors");
    GRLM_CHECK(has_priors <= 1, IndexFileError,
               path << ": field 'has priors' = " << int(has_priors) << " is not 0 or 1");
    if (has_priors) catalog.SetPriors(r.GetArray<double>(num_items, field));
    GRLM_CHECK(r.remaining() == 0, IndexFileError,
               path << ": " << r.remaining() << " unexpected bytes after the index");
    field = "weights";  // checked by the scorer the grounder builds
    return Grounder(std::move(catalog), ScoreMode(mode), std::move(weights));
  } catch (const InvalidArgument& e) {
    // A file that passed its checksum but holds values the core refuses (a duplicate or empty
    // item id, a NaN weight, ...): a damaged file, not a caller's mistake.
    GRLM_CHECK(false, IndexFileError, path << ": field '" << field << "': " << e.what());
  }
}

// A new file next to path with a name no one else uses, created exclusively and never through a
// symlink (O_EXCL | O_NOFOLLOW), so a planted link or a concurrent writer cannot redirect it.
int CreateTemporary(const std::string& path, std::string* tmp) {
  std::random_device entropy;
  for (int attempt = 0; attempt < 16; ++attempt) {
    *tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(entropy());
    const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t put = ::write(fd, bytes.data(), bytes.size());
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    bytes.remove_prefix(std::size_t(put));
  }
  return true;
}

// load(), letting only IndexFileError and ResourceError out: running out of memory is a
// ResourceError, anything else the file made the core refuse is an IndexFileError naming it.
template <typename Load>
Grounder OnlyIndexErrors(const Load& load, const std::string& path) {
  try {
    return load();
  } catch (const IndexFileError&) {
    throw;
  } catch (const ResourceError&) {
    throw;
  } catch (const std::bad_alloc&) {
    GRLM_CHECK(false, ResourceError, path << ": not enough memory to load this index file");
  } catch (const std::exception& e) {
    GRLM_CHECK(false, IndexFileError, path << ": " << e.what());
  }
}

}  // namespace

void SaveIndex(const Grounder& grounder, const std::string& path) {
  GRLM_CHECK(path.find('\0') == std::string::npos, InvalidArgument,
             "index path contains a NUL character: '" << path.c_str() << "\\0...'");
  GRLM_CHECK(!path.empty(), InvalidArgument, "index path is empty");
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
  file.bytes().append(kMagic, sizeof(kMagic));
  file.Put<uint32_t>(kFormatVersion);
  file.Put<uint64_t>(payload.bytes().size());
  file.bytes().append(payload.bytes());
  file.Put<uint64_t>(Fnv1a(payload.bytes()));

  std::string tmp;
  const int fd = CreateTemporary(path, &tmp);
  GRLM_CHECK(fd >= 0, Error, SystemError("cannot create a temporary file for", path));
  // Written, flushed to disk and renamed over path; any failure removes the temporary file.
  const bool written = WriteAll(fd, file.bytes()) && ::fsync(fd) == 0;
  const int write_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(written && closed ? errno : write_errno);
    ::unlink(tmp.c_str());
    GRLM_CHECK(false, Error, "cannot write index file " << path << ": " << reason);
  }
}

Grounder LoadIndex(const std::string& path) {
  GRLM_CHECK(path.find('\0') == std::string::npos, IndexFileError,
             "index path contains a NUL character: '" << path.c_str() << "\\0...'");
  return OnlyIndexErrors([&] { return ParseIndex(ReadIndexFile(path), path); }, path);
}

Grounder ParseIndexBytes(std::string_view bytes, const std::string& name) {
  return OnlyIndexErrors([&] { return ParseIndex(bytes, name); }, name);
}

}  // namespace grlm
