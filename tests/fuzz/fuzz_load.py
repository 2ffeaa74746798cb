"""Fuzz target: Grounder.load on arbitrary bytes, and on bytes whose size field and checksum are
recomputed (so the fuzzer reaches the fields), starting from a corpus of valid and near-valid
index files (``_index_bytes.seeds``). Only IndexFileError may come out; a file whose structure
is broken (``_index_bytes.parse``, the format read in Python, which also guides the fuzzer where
the core is not instrumented) must be refused; a file that loads must ground and give str item
ids."""

from __future__ import annotations

import os
import sys
import tempfile

import _harness

PATH = os.path.join(
    "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
    f"grlm_fuzz_load_{os.getpid()}.grlm",
)


def test_one_input(data: bytes) -> None:
    from _index_bytes import Damaged, parse, rechecksum
    from grlm.errors import IndexFileError
    from grlm.ground import Grounder

    if data[:1] == b"\x01":  # one input in two (for the mutator) gets a right checksum
        data = rechecksum(b"GRLMIDX\0\x01\0\0\0" + bytes(8) + data[1:] + bytes(8))
    try:
        parse(data)
        damaged = None
    except Damaged as error:
        damaged = error
    with open(PATH, "wb") as out:
        out.write(data)
    try:
        grounder = Grounder.load(PATH)
    except IndexFileError as error:
        assert PATH in str(error), error
        return
    assert damaged is None, f"loaded a file whose {damaged}"
    assert all(isinstance(i, str) for i in grounder.item_ids)
    grounder.ground([grounder.vocab[0] if grounder.vocab else "x"], k=3)


def seeds() -> list[bytes]:
    from _index_bytes import seeds

    return seeds()


if __name__ == "__main__":
    try:
        _harness.run(test_one_input, seeds=seeds)
    finally:
        if os.path.exists(PATH):
            os.remove(PATH)
    sys.exit(0)
