"""What a user expects of a command: ``grlm --version``, ``python -m grlm``, a whole sentence
under ``grlm --help``, and one source for the version."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import grlm
import pytest
from grlm.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"grlm {grlm.__version__}"


def test_python_dash_m_grlm_runs_the_command():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        [sys.executable, "-m", "grlm", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert "usage: grlm" in done.stdout
    description = done.stdout.split("\n\n")[1].strip()
    assert description.endswith(".")  # a sentence, not the first line of a docstring


def test_the_version_has_one_source():
    assert re.fullmatch(r"\d+\.\d+\.\d+", grlm.__version__)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion = " not in pyproject
    assert 'metadata.version.input = "python/grlm/__init__.py"' in pyproject
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "project(grlm VERSION ${GRLM_VERSION}" in cmake
    assert re.search(r"project\(grlm VERSION \d", cmake) is None
