// The shared __host__ __device__ scoring functions of item_score.h bound for the host-side tests
// (tests/test_cuda_structural.py): the arithmetic the CUDA kernel runs, checked against plain
// Python in every build. Called from module.cc.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "grlm/error.h"
#include "grlm/item_score.h"

namespace py = pybind11;

namespace {

using Ids = py::array_t<uint32_t, py::array::c_style | py::array::forcecast>;
using Units = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

}  // namespace

void BindItemScore(py::module_& m) {
  m.def("item_score_positional",
        [](const Ids& item, const Ids& query, const std::vector<double>& weights) {
          if (item.ndim() != 1 || query.ndim() != 1 || item.shape(0) != query.shape(0) ||
              static_cast<std::size_t>(item.shape(0)) != weights.size()) {
            throw grlm::InvalidArgument("item, query and weights must have the same length");
          }
          return grlm::PositionalItemScore(item.data(), query.data(), weights.data(),
                                           static_cast<int>(item.shape(0)));
        });
  m.def("item_score_bag_units", [](const Ids& item, const Units& credit_table) {
    if (item.ndim() != 1 || credit_table.ndim() != 1) {
      throw grlm::InvalidArgument("item and credit_table must be 1-D");
    }
    for (py::ssize_t j = 0; j < item.shape(0); ++j) {
      const grlm::TermId t = item.data()[j];
      if (t < grlm::kPadTerm && t >= credit_table.shape(0)) {
        throw grlm::InvalidArgument("item term " + std::to_string(t) + " outside the credit table");
      }
    }
    return grlm::BagItemUnits(item.data(), static_cast<int>(item.shape(0)), credit_table.data());
  });
  m.def("ranks_before", &grlm::RanksBefore);
  m.attr("bag_units_per_point") = grlm::kBagUnitsPerPoint;
}
