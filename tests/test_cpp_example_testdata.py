"""The testdata of the C++ consumer example (ctest `consumer_example` compares the example's
output with it) is what the Python Grounder writes and answers today: regenerated here, every
file must be byte-identical, index files included."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cpp"


def _make_testdata():
    spec = importlib.util.spec_from_file_location("make_testdata", EXAMPLE / "make_testdata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name",
    [
        "catalog.json",
        "queries.txt",
        "positional.grlm",
        "bag.grlm",
        "expected_positional.jsonl",
        "expected_bag.jsonl",
    ],
)
def test_testdata_is_current(tmp_path, name):
    _make_testdata().write(tmp_path)
    assert (tmp_path / name).read_bytes() == (EXAMPLE / "testdata" / name).read_bytes(), (
        f"examples/cpp/testdata/{name} is stale: run examples/cpp/make_testdata.py"
    )


def test_expected_answers_cover_every_hit_and_the_escapes():
    text = (EXAMPLE / "testdata" / "expected_bag.jsonl").read_text(encoding="utf-8")
    text += (EXAMPLE / "testdata" / "expected_positional.jsonl").read_text(encoding="utf-8")
    for needle in (
        '"hit":"direct"',
        '"hit":"structural"',
        '"hit":"none"',
        'quote\\"d\\\\item',
        "crème-7",
    ):
        assert needle in text
