// The only place pybind11 appears for the grounding core: grlm._core. Docstrings for users live
// in the Python wrappers (python/grlm/ground/); this file converts types and releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <string_view>
#include <vector>

#include "grlm/grlm.h"

namespace py = pybind11;

namespace {

// Views of the UTF-8 bytes of a Python str (cached by CPython inside the str object, so the view
// lives as long as the object). Raises TypeError for anything else, naming what it got.
std::string_view Utf8View(PyObject* obj, const char* what) {
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
void AppendTermViews(py::handle term_id, std::vector<std::string_view>* views) {
  PyObject* seq = term_id.ptr();
  if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
    throw py::type_error(std::string("a Term ID must be a list or tuple of str, got ") +
                         Py_TYPE(seq)->tp_name + ": " + std::string(py::repr(term_id)));
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  for (Py_ssize_t j = 0; j < n; ++j) views->push_back(Utf8View(items[j], "a term"));
}

std::vector<std::string_view> TermViews(py::handle term_id) {
  std::vector<std::string_view> views;
  AppendTermViews(term_id, &views);
  return views;
}

// All terms of all queries in one array, and one span per query into it.
struct QueryViews {
  std::vector<std::string_view> terms;
  std::vector<std::span<const std::string_view>> queries;

  explicit QueryViews(const py::sequence& batch) {
    const std::size_t n = py::len(batch);
    std::vector<std::size_t> ends;
    ends.reserve(n);
    terms.reserve(n * 5);
    for (py::handle q : batch) {
      AppendTermViews(q, &terms);
      ends.push_back(terms.size());
    }
    queries.reserve(n);
    std::size_t begin = 0;
    for (std::size_t end : ends) {
      queries.emplace_back(terms.data() + begin, end - begin);
      begin = end;
    }
  }
};

grlm::ScoreMode ParseMode(const std::string& mode) {
  if (mode == "positional") return grlm::ScoreMode::kPositional;
  if (mode == "bag") return grlm::ScoreMode::kBag;
  throw grlm::InvalidArgument("mode must be 'positional' or 'bag', got '" + mode + "'");
}

std::string ModeName(grlm::ScoreMode mode) {
  return mode == grlm::ScoreMode::kBag ? "bag" : "positional";
}

// (hit codes uint8[Q], offsets int64[Q+1], item indices int64[M], scores float64[M]).
py::tuple PackResults(const std::vector<grlm::GroundResult>& results) {
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

grlm::Grounder BuildGrounder(const py::sequence& item_ids, const py::sequence& term_ids,
                             int term_id_length, const std::string& mode,
                             std::vector<double> weights, std::optional<std::vector<double>> priors) {
  if (py::len(item_ids) != py::len(term_ids)) {
    throw grlm::InvalidArgument("got " + std::to_string(py::len(item_ids)) + " item ids but " +
                                std::to_string(py::len(term_ids)) + " Term IDs");
  }
  grlm::Catalog catalog(term_id_length);
  for (std::size_t i = 0; i < py::len(item_ids); ++i) {
    catalog.AddItem(Utf8View(item_ids[i].ptr(), "an item id"), TermViews(term_ids[i]));
  }
  if (priors) catalog.SetPriors(std::move(*priors));
  return grlm::Grounder(std::move(catalog), ParseMode(mode), std::move(weights));
}

}  // namespace

void BindTokenTrie(py::module_& m);

#if GRLM_WITH_CUDA
void BindCuda(py::module_& m);
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled grounding core of grlm (see grlm.ground for the documented API).";

  py::module_ errors = py::module_::import("grlm.errors");
  static py::object invalid_input = errors.attr("InvalidInputError");
  static py::object index_file_error = errors.attr("IndexFileError");
  static py::object grlm_error = errors.attr("GrlmError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const grlm::InvalidArgument& e) {
      PyErr_SetString(invalid_input.ptr(), e.what());
    } catch (const grlm::IndexFileError& e) {
      PyErr_SetString(index_file_error.ptr(), e.what());
    } catch (const grlm::Error& e) {
      PyErr_SetString(grlm_error.ptr(), e.what());
    }
  });

  m.attr("cuda_compiled") = bool(GRLM_WITH_CUDA);
  m.attr("max_term_id_length") = grlm::kMaxTermIdLength;
  m.def("normalize_term", [](py::handle term) { return grlm::TermVocab::Normalize(Utf8View(term.ptr(), "a term")); });

  py::class_<grlm::Grounder>(m, "Grounder")
      .def(py::init(&BuildGrounder), py::arg("item_ids"), py::arg("term_ids"),
           py::arg("term_id_length"), py::arg("mode"), py::arg("weights"), py::arg("priors"))
      .def_static("load", [](const std::string& path) {
        py::gil_scoped_release release;
        return grlm::LoadIndex(path);
      })
      .def("save", [](const grlm::Grounder& g, const std::string& path) {
        py::gil_scoped_release release;
        grlm::SaveIndex(g, path);
      })
      .def("ground_batch", [](const grlm::Grounder& g, const py::sequence& queries, int k, int num_threads) {
        const QueryViews views(queries);  // views into the str objects, which `queries` keeps alive
        std::vector<grlm::GroundResult> results;
        {
          py::gil_scoped_release release;
          results = g.GroundBatch(views.queries, k, num_threads);
        }
        return PackResults(results);
      }, py::arg("queries"), py::arg("k"), py::arg("num_threads"))
      .def("ground_one", [](const grlm::Grounder& g, py::handle query, int k) {
        return PackResults({g.Ground(TermViews(query), k)});
      })
      .def_property_readonly("num_items", [](const grlm::Grounder& g) { return g.catalog().size(); })
      .def_property_readonly("term_id_length", [](const grlm::Grounder& g) { return g.catalog().term_id_length(); })
      .def_property_readonly("mode", [](const grlm::Grounder& g) { return ModeName(g.mode()); })
      .def_property_readonly("weights", [](const grlm::Grounder& g) { return g.scorer().weights(); })
      .def_property_readonly("item_ids", [](const grlm::Grounder& g) { return g.catalog().item_ids(); })
      .def_property_readonly("vocab", [](const grlm::Grounder& g) { return g.catalog().vocab().terms(); })
      .def_property_readonly("priors", [](const grlm::Grounder& g) -> std::optional<std::vector<double>> {
        if (!g.catalog().has_priors()) return std::nullopt;
        return g.catalog().priors();
      })
      .def_property_readonly("num_direct_groups", [](const grlm::Grounder& g) { return g.direct_map().num_groups(); })
      .def("term_matrix", [](const grlm::Grounder& g) {
        const auto& c = g.catalog();
        py::array_t<uint32_t> out({c.size(), std::size_t(c.term_id_length())});
        std::copy(c.terms().begin(), c.terms().end(), out.mutable_data());
        return out;
      })
      .def("tie_rank", [](const grlm::Grounder& g) {
        const auto& r = g.catalog().tie_rank();
        return py::array_t<uint32_t>(r.size(), r.data());
      })
      .def("item_index", [](const grlm::Grounder& g, const std::string& id) { return g.catalog().FindItem(id); })
      .def("item_terms", [](const grlm::Grounder& g, uint32_t index) {
        const auto& c = g.catalog();
        if (index >= c.size()) throw py::index_error("item index " + std::to_string(index) + " out of range");
        std::vector<std::string> terms;
        for (int j = 0; j < c.term_id_length(); ++j) {
          const grlm::TermId t = c.ItemTerms(index)[j];
          if (t < grlm::kPadTerm) terms.push_back(c.vocab().Term(t));
        }
        return terms;
      })
      .def("memory_bytes", &grlm::Grounder::MemoryBytes);

  BindTokenTrie(m);
#if GRLM_WITH_CUDA
  BindCuda(m);
#endif
}
