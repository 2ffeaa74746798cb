// Exceptions of the grlm core. Every message names the offending value and, through GRLM_CHECK,
// the file and line that detected it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace grlm {

// Base of every error the core throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed malformed input (empty Term ID, bad k, invalid UTF-8, ...).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A saved index file is unreadable, truncated, corrupted or of an unknown version.
class IndexFileError : public Error {
 public:
  using Error::Error;
};

// The system refused a resource the core asked for (a worker thread).
class ResourceError : public Error {
 public:
  using Error::Error;
};

namespace detail {
// The file name without its directories: messages say where in the core a check failed without
// carrying the build machine's paths.
constexpr const char* BaseName(const char* path) {
  const char* base = path;
  for (const char* p = path; *p != '\0'; ++p) {
    if (*p == '/' || *p == '\\') base = p + 1;
  }
  return base;
}

template <typename E>
[[noreturn]] inline void Throw(const char* file, int line, const std::string& message) {
  std::ostringstream out;
  out << message << " [" << BaseName(file) << ":" << line << "]";
  throw E(out.str());
}
}  // namespace detail

}  // namespace grlm

// GRLM_CHECK(cond, ExceptionType, message-stream): throws ExceptionType with the message and
// file:line when cond is false. The message may use <<: GRLM_CHECK(k > 0, InvalidArgument, "k=" <<
// k).
#define GRLM_CHECK(cond, E, msg)                                                   \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::ostringstream grlm_check_out_;                                          \
      grlm_check_out_ << msg;                                                      \
      ::grlm::detail::Throw<::grlm::E>(__FILE__, __LINE__, grlm_check_out_.str()); \
    }                                                                              \
  } while (0)
