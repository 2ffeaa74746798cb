"""Grounder.save / Grounder.load against damaged files and hostile paths: every loader error is
an IndexFileError naming the file and the field, memory stays bounded by the file's size, and
saving never follows a symlink nor leaves a temporary file behind."""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
import textwrap

import pytest
from _index_bytes import payload, rechecksum, wrap
from grlm.errors import IndexFileError, InvalidInputError
from grlm.ground import Grounder


def write(tmp_path, data: bytes, name: str = "index.grlm"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def load_error(path) -> str:
    with pytest.raises(IndexFileError) as info:
        Grounder.load(path)
    return str(info.value)


def _python_output(code: str) -> str:
    """The standard output of ``code`` run by a fresh interpreter on this test's import path
    (resource limits and signals stay out of the test process)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout


def test_the_helper_writes_what_save_writes(tmp_path):
    Grounder({"a": ["x", "x"], "b": ["y", "y"]}).save(tmp_path / "g.grlm")
    assert (tmp_path / "g.grlm").read_bytes() == wrap(payload())
    assert Grounder.load(write(tmp_path, wrap(payload()))).item_ids == ["a", "b"]


@pytest.mark.parametrize(
    "case, data, field",
    [
        # Counts far beyond the file: refused before anything is allocated.
        ("50M items", wrap(payload(num_items=50_000_000)), "number of items"),
        ("4G terms", wrap(payload(num_terms=2**32 - 1)), "number of terms"),
        # Values the core refuses inside a file whose checksum is right.
        ("non-UTF-8 id", wrap(payload(ids=(b"a", b"\xff\xfe"))), "item ids"),
        ("duplicate ids", wrap(payload(ids=(b"a", b"a"))), "item ids"),
        ("empty id", wrap(payload(ids=(b"a", b""))), "item ids"),
        ("NaN weight", wrap(payload(weights=[math.nan, 1.0])), "weights"),
        ("negative weight", wrap(payload(weights=[-1.0, 1.0])), "weights"),
        ("NaN prior", wrap(payload(priors=[0.0, math.nan])), "priors"),
        ("bad has-priors flag", wrap(payload()[:-1] + b"\7"), "has priors"),
        ("non-UTF-8 term", wrap(payload(terms=(b"x", b"\xc3"))), "terms"),
        ("unnormalized term", wrap(payload(terms=(b"x", b"Y"))), "terms"),
        # A long term would make the bag index quadratic to build: refused at the bound.
        ("100 kB term", wrap(payload(mode=1, terms=(b"x", b"y" * 100_000))), "at most 256 bytes"),
        ("term id out of range", wrap(payload(item_terms=[[0, 0], [0, 9]])), "item terms"),
        ("length 0", wrap(payload(length=0, weights=[], item_terms=[[], []])), "term_id_length"),
        ("mode 7", wrap(payload(mode=7)), "mode"),
        ("trailing bytes", wrap(payload() + b"extra"), "unexpected bytes"),
        ("truncated payload", wrap(payload()[:30]), "number of terms"),
        ("truncated weights", wrap(payload()[:9]), "'weights' (2 values) is truncated"),
        # A payload size that would wrap around when added to the header size.
        ("wrapping size", wrap(payload(), size=2**64 - 8), "payload size"),
        ("short size", wrap(payload(), size=3), "payload size"),
        ("bad magic", b"NOTANIDX" + wrap(payload())[8:], "bad magic"),
        ("version 2", wrap(payload())[:8] + struct.pack("<I", 2) + wrap(payload())[12:], "version"),
        ("empty file", b"", "magic"),
    ],
)
def test_damaged_files_raise_index_file_error_naming_file_and_field(tmp_path, case, data, field):
    path = write(tmp_path, data)
    message = load_error(path)
    assert str(path) in message, (case, message)
    assert field in message, (case, message)


def test_paths_that_are_not_index_files(tmp_path):
    assert "directory" in load_error(tmp_path)
    assert "cannot open" in load_error(tmp_path / "missing.grlm")
    message = load_error(str(tmp_path / "x") + "\0.grlm")
    assert "NUL" in message


def test_random_damage_never_escapes_index_file_error(tmp_path):
    rng = random.Random(13)
    good = wrap(
        payload(
            length=3,
            terms=(b"x", b"y", b"hair mask"),
            ids=(b"a", b"b", b"c"),
            item_terms=[[0, 1, 2], [2, 1, 0], [0, 0, 4294967294]],
            priors=[1.0, 2.0, 0.5],
        )
    )
    path = tmp_path / "damaged.grlm"
    loaded = 0
    for trial in range(1500):
        data = bytearray(good)
        kind = trial % 3
        if kind == 0:  # flipped bytes
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # truncated or extended
            data = data[: rng.randrange(len(data))] + bytes(rng.randrange(3) * 7)
        else:  # overwritten 4-byte field
            at = rng.randrange(len(data) - 4)
            data[at : at + 4] = struct.pack("<I", rng.choice([0, 1, 2**31, 2**32 - 1, 50_000_000]))
        if trial % 2:
            data = bytearray(rechecksum(bytes(data)))  # get past the checksum to the fields
        path.write_bytes(bytes(data))
        try:
            grounder = Grounder.load(path)
        except IndexFileError as error:
            assert str(path) in str(error)
            continue
        loaded += 1  # still a valid index: it must ground
        grounder.ground(["x", "y"], k=2)
        assert all(isinstance(i, str) for i in grounder.item_ids)
    assert loaded < 1500


def test_loading_a_lying_file_takes_little_memory(tmp_path):
    # Before: 98 bytes claiming 50M items made load allocate 1.5 GB before failing.
    path = write(tmp_path, wrap(payload(num_items=50_000_000)))
    code = f"""
        import resource
        from grlm.errors import IndexFileError
        from grlm.ground import Grounder
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            Grounder.load({str(path)!r})
        except IndexFileError:
            pass
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """
    out = _python_output(code)
    assert int(out) < 20_000  # KiB


def small_grounder() -> Grounder:
    return Grounder({"a": ["x", "y"], "b": ["x", "z"]})


def test_save_refuses_a_nul_in_the_path(tmp_path):
    # Before: save("x\0.grlm") wrote "x".
    with pytest.raises(InvalidInputError, match="NUL"):
        small_grounder().save(str(tmp_path / "x") + "\0.grlm")
    assert list(tmp_path.iterdir()) == []


def test_save_never_follows_a_planted_symlink(tmp_path):
    # Before: the fixed temporary name path + ".tmp" followed a symlink planted there.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "index.grlm"
    (tmp_path / "index.grlm.tmp").symlink_to(victim)
    small_grounder().save(target)
    assert victim.read_text() == "precious"
    assert Grounder.load(target).item_ids == ["a", "b"]
    # A symlink at the path itself is replaced by the file, its target left alone.
    link = tmp_path / "link.grlm"
    link.symlink_to(victim)
    small_grounder().save(link)
    assert victim.read_text() == "precious" and not link.is_symlink()
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp." in p.name]
    assert leftovers == []


def test_failed_save_leaves_no_temporary_file(tmp_path):
    # Renaming over a directory fails after the temporary file is written.
    (tmp_path / "taken").mkdir()
    with pytest.raises(Exception, match="cannot write index file"):
        small_grounder().save(tmp_path / "taken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_concurrent_saves_to_one_path(tmp_path):
    # Unique temporary names: two writers never share (and corrupt) one temporary file.
    import threading

    grounders = [Grounder({f"i{n}": ["t", f"u{k}"] for n in range(200)}) for k in range(4)]
    target = tmp_path / "shared.grlm"
    threads = [
        threading.Thread(target=lambda g=g: [g.save(target) for _ in range(20)]) for g in grounders
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Grounder.load(target)) == 200
    assert [p.name for p in tmp_path.iterdir()] == ["shared.grlm"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")
def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    # A file-size limit makes the write itself fail (EFBIG) half way through.
    code = f"""
        import os, resource, signal
        from grlm.ground import Grounder
        small = Grounder({{"a": ["x"]}})
        small.save({str(tmp_path / "index.grlm")!r})
        before = open({str(tmp_path / "index.grlm")!r}, "rb").read()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        big = Grounder({{f"item{{n}}": ["x", f"t{{n}}"] for n in range(2000)}})
        try:
            big.save({str(tmp_path / "index.grlm")!r})
        except Exception as error:
            assert "cannot write index file" in str(error), error
        else:
            raise AssertionError("save did not fail")
        assert open({str(tmp_path / "index.grlm")!r}, "rb").read() == before
        print(sorted(os.listdir({str(tmp_path)!r})))
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['index.grlm']"


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
    # Before: open() waited for a writer, wedging every reload (and SIGTERM) behind it.
    fifo = tmp_path / "catalog.grlm"
    os.mkfifo(fifo)
    code = f"""
        from grlm.errors import IndexFileError
        from grlm.ground import Grounder
        try:
            Grounder.load({str(fifo)!r})
        except IndexFileError as error:
            print(error)
    """
    out = _python_output(code)
    assert "not a regular file" in out


def test_the_header_is_checked_before_the_file_is_read(tmp_path):
    # Before: a 1 TiB sparse file was read whole (MemoryError) before "bad magic".
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(1 << 40)
    assert "bad magic" in load_error(huge)
    lying = tmp_path / "lying.grlm"
    with open(lying, "wb") as f:
        f.write(wrap(payload(), size=123))
        f.truncate(1 << 40)
    assert "payload size" in load_error(lying)


def test_a_long_multibyte_term_in_an_index_is_an_index_file_error(tmp_path):
    # Before: the core's preview of the term was cut inside a character: UnicodeDecodeError.
    path = write(tmp_path, wrap(payload(terms=(("日" * 100).encode(),), ids=(b"a",), length=1)))
    message = load_error(path)
    assert str(path) in message and "日" in message
