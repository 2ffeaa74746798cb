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


def run(test_one_input: Callable[[bytes], None], setup: Callable[[], None] | None = None) -> None:
    """Fuzzes test_one_input (libFuzzer flags in sys.argv), or replays inputs with --replay."""
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
    with atheris.instrument_imports(include=["grlm"]):
        import grlm.decoding.trie
        import grlm.ground
        import grlm.term_ids  # noqa: F401
    if setup:
        setup()
    # internal_libfuzzer: the libFuzzer loaded above, which the core's coverage is bound to.
    atheris.Setup(sys.argv, test_one_input, internal_libfuzzer=True)
    atheris.Fuzz()
