// Conversions shared by the binding files of grlm._core (Python str/list <-> C++ views, result
// packing). Private to csrc/bindings/; every function is inline so each file can include it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "grlm/grlm.h"

namespace grlm_py {

namespace py = pybind11;

// Views of the UTF-8 bytes of a Python str (cached by CPython inside the str object, so the view
// lives as long as the object). Raises TypeError for anything else, naming what it got.
inline std::string_view Utf8View(PyObject* obj, const char* what) {
  if (!PyUnicode_Check(obj)) {
    throw py::type_error(std::string(what) + " must be str, got " + Py_TYPE(obj)->tp_name + ": " +
                         std::string(py::repr(py::handle(obj))));
  }
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(obj, &size);
  if (data == nullptr) {
    PyErr_Clear();
    throw grlm::InvalidArgument(std::string(what) + " is not encodable as UTF-8: " +
                                std::string(py::repr(py::handle(obj))));
  }
  return {data, std::size_t(size)};
}

// Appends the terms of a Term ID given as a list or tuple of str to *views.
inline void AppendTermViews(py::handle term_id, std::vector<std::string_view>* views) {
  PyObject* seq = term_id.ptr();
  if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
    throw py::type_error(std::string("a Term ID must be a list or tuple of str, got ") +
                         Py_TYPE(seq)->tp_name + ": " + std::string(py::repr(term_id)));
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  for (Py_ssize_t j = 0; j < n; ++j) views->push_back(Utf8View(items[j], "a term"));
}

inline std::vector<std::string_view> TermViews(py::handle term_id) {
  std::vector<std::string_view> views;
  AppendTermViews(term_id, &views);
  return views;
}

// All terms of all queries copied into one buffer, and one span of views per query into it.
// A copy, not views into the str objects: the batch is grounded with the GIL released, and
// another thread may then empty the caller's lists and free their strings.
struct QueryViews {
  std::string bytes;
  std::vector<std::string_view> terms;
  std::vector<std::span<const std::string_view>> queries;

  explicit QueryViews(const py::sequence& batch) {
    std::vector<std::string_view> borrowed;  // valid while the GIL is held, i.e. in here only
    std::vector<std::size_t> ends;
    ends.reserve(py::len(batch));
    for (py::handle q : batch) {
      AppendTermViews(q, &borrowed);
      ends.push_back(borrowed.size());
    }
    std::size_t total = 0;
    for (std::string_view term : borrowed) total += term.size();
    bytes.reserve(total);  // no reallocation below, so the views into it stay valid
    terms.reserve(borrowed.size());
    for (std::string_view term : borrowed) {
      terms.emplace_back(bytes.data() + bytes.size(), term.size());
      bytes.append(term);
    }
    queries.reserve(ends.size());
    std::size_t begin = 0;
    for (std::size_t end : ends) {
      queries.emplace_back(terms.data() + begin, end - begin);
      begin = end;
    }
  }
  // The views point into this object's own buffers.
  QueryViews(const QueryViews&) = delete;
  QueryViews& operator=(const QueryViews&) = delete;
};

inline grlm::ScoreMode ParseMode(const std::string& mode) {
  if (mode == "positional") return grlm::ScoreMode::kPositional;
  if (mode == "bag") return grlm::ScoreMode::kBag;
  throw grlm::InvalidArgument("mode must be 'positional' or 'bag', got '" + mode + "'");
}

inline std::string ModeName(grlm::ScoreMode mode) {
  return mode == grlm::ScoreMode::kBag ? "bag" : "positional";
}

// (hit codes uint8[Q], offsets int64[Q+1], item indices int64[M], scores float64[M]).
inline py::tuple PackResults(const std::vector<grlm::GroundResult>& results) {
  std::size_t total = 0;
  for (const auto& r : results) total += r.items.size();
  py::array_t<uint8_t> hits(results.size());
  py::array_t<int64_t> offsets(results.size() + 1);
  py::array_t<int64_t> items(total);
  py::array_t<double> scores(total);
  auto h = hits.mutable_unchecked<1>();
  auto o = offsets.mutable_unchecked<1>();
  auto it = items.mutable_unchecked<1>();
  auto sc = scores.mutable_unchecked<1>();
  std::size_t pos = 0;
  o(0) = 0;
  for (std::size_t q = 0; q < results.size(); ++q) {
    h(q) = uint8_t(results[q].hit);
    for (std::size_t i = 0; i < results[q].items.size(); ++i, ++pos) {
      it(pos) = results[q].items[i];
      sc(pos) = results[q].scores[i];
    }
    o(q + 1) = int64_t(pos);
  }
  return py::make_tuple(hits, offsets, items, scores);
}

// A backend argument: None (the Grounder's CPU scorer) or a StructuralBackend. Taken as an object
// and cast here: pybind11 accepts None for a pointer only in its second, converting overload
// pass, which would load every argument twice on each call.
inline const grlm::StructuralBackend* AsBackend(const py::object& backend) {
  if (backend.is_none()) return nullptr;
  if (!py::isinstance<grlm::StructuralBackend>(backend)) {
    throw py::type_error(std::string("backend must be None or a StructuralBackend (e.g. "
                                     "_core.CudaStructuralScorer), got ") +
                         Py_TYPE(backend.ptr())->tp_name);
  }
  return backend.cast<const grlm::StructuralBackend*>();
}

// Raises a Python exception of type `type` with a C++ exception's message, decoded from UTF-8
// with replacement: a message quoting bytes that are not UTF-8 (a damaged index file) must not
// turn into a UnicodeDecodeError.
inline void SetError(const py::object& type, const char* what) {
  PyObject* message = PyUnicode_DecodeUTF8(what, Py_ssize_t(std::strlen(what)), "replace");
  if (message == nullptr) return;  // MemoryError is set
  PyErr_SetObject(type.ptr(), message);
  Py_DECREF(message);
}

}  // namespace grlm_py
