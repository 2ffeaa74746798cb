"""docs/index_format.md describes the index file well enough to read it: its Python reader,
run as written, gives back what the Grounder saved."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from grlm.ground import Grounder

DOC = Path(__file__).resolve().parents[1] / "docs" / "index_format.md"


def _reader():
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own code
    return namespace["read_index"]


@pytest.mark.parametrize(
    "mode, priors, weights",
    [("positional", None, [3.0, 2.0, 0.5]), ("bag", {"b": 2.5, "c": -1.0}, None)],
)
def test_the_documented_reader_reads_a_saved_index(tmp_path, mode, priors, weights):
    catalog = {
        "a": ["Perfume", "floral", "oud"],
        "b": ["perfume", "woody"],
        "c": ["crème", "floral", "oud"],
        "d": ["mint"],
    }
    grounder = Grounder(catalog, mode=mode, priors=priors, weights=weights)
    grounder.save(tmp_path / "i.grlm")
    read = _reader()(tmp_path / "i.grlm")
    assert read["mode"] == mode
    assert read["weights"] == grounder.weights
    assert read["terms"] == grounder.vocab
    assert read["term_ids"] == {item: grounder.item_terms(item) for item in catalog}
    assert read["priors"] == (None if priors is None else [priors.get(i, 0.0) for i in catalog])


def test_the_documented_reader_refuses_damage(tmp_path):
    Grounder({"a": ["x"]}).save(tmp_path / "i.grlm")
    data = bytearray((tmp_path / "i.grlm").read_bytes())
    data[-9] ^= 1  # a payload byte
    (tmp_path / "bad.grlm").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        _reader()(tmp_path / "bad.grlm")
