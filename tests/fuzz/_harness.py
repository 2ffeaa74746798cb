"""What every fuzz target shares: atheris set up so that coverage reaches the C++ core.

The core is built with ``-fsanitize=fuzzer-no-link`` by ``scripts/fuzz.sh``; its coverage
callbacks are defined by atheris's own libFuzzer, which must therefore be loaded with
RTLD_GLOBAL *before* ``grlm._core`` is imported. A core built without that flag works too (only
the Python code is then coverage-guided).

A target calls :func:`run` with its ``test_one_input``. ``--replay FILE_OR_DIR...`` runs saved
inputs through it without atheris (to re-check a crash, e.g. under scripts/sanitize.sh's build).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

# The targets share tests/_index_bytes.py with the pytest suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _load_libfuzzer_globally() -> None:
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_GLOBAL)
    try:
        import atheris.core_with_libfuzzer  # noqa: F401
    finally:
        sys.setdlopenflags(flags)


def _seed(corpus: Path, seeds: list[bytes]) -> None:
    """Writes seeds into an empty corpus folder (a fuzzer starting from nothing may never reach
    past a format's first check)."""
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for n, data in enumerate(seeds):
            (corpus / f"seed-{n:03d}").write_bytes(data)


def run(
    test_one_input: Callable[[bytes], None],
    setup: Callable[[], None] | None = None,
    seeds: Callable[[], list[bytes]] | None = None,
) -> None:
    """Fuzzes test_one_input (libFuzzer flags in sys.argv), or replays inputs with --replay.
    seeds: the starting inputs, written into the corpus folder (the first argument that is not
    a flag) when it is empty."""
    if "--replay" in sys.argv:
        paths = [Path(p) for p in sys.argv[sys.argv.index("--replay") + 1 :]]
        files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
        if setup:
            setup()
        for file in files:
            test_one_input(file.read_bytes())
        print(f"replayed {len(files)} inputs")
        return
    import atheris

    _load_libfuzzer_globally()
    # _index_bytes: the Python reader of the index format (its branches guide fuzz_load where the
    # core has no coverage instrumentation).
    with atheris.instrument_imports(include=["grlm", "_index_bytes"]):
        import _index_bytes  # noqa: F401
        import grlm.decoding.trie
        import grlm.ground
        import grlm.term_ids  # noqa: F401
    corpora = [Path(a) for a in sys.argv[1:] if not a.startswith("-")]
    if seeds and corpora:  # after the imports above: what seeds() imports is instrumented
        _seed(corpora[0], seeds())
    if setup:
        setup()
    # internal_libfuzzer: the libFuzzer loaded above, which the core's coverage is bound to.
    atheris.Setup(sys.argv, test_one_input, internal_libfuzzer=True)
    atheris.Fuzz()
