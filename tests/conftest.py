"""Markers that skip themselves when what they need is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="no CUDA GPU visible")
    skip_shared = pytest.mark.skip(reason=f"{SHARED_DATA} is absent")
    gpu = None
    for item in items:
        if "gpu" in item.keywords:
            if gpu is None:
                gpu = _gpu_available()
            if not gpu:
                item.add_marker(skip_gpu)
        if "shared_data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_shared)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


POSTGRES_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_cluster():
    """``(url, folder)`` of a PostgreSQL server for the catalog store's tests: the one
    ``GRLM_TEST_POSTGRES_URL`` names (.ci/run starts it), else a throwaway cluster started by
    scripts/postgres.sh for this session. Skips only when no server can be started."""
    import os
    import subprocess

    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'grlm[store]')")
    url = os.environ.get("GRLM_TEST_POSTGRES_URL")
    if url:
        yield url, os.environ.get("GRLM_TEST_POSTGRES_DIR")
        return
    try:
        started = subprocess.run(
            ["bash", str(POSTGRES_SCRIPT), "start"],
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("no PostgreSQL server could be started: scripts/postgres.sh timed out")
    if started.returncode != 0:
        reason = (started.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"no PostgreSQL server could be started: {reason}")
    env = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.split("\n") if line
    )
    yield env["GRLM_TEST_POSTGRES_URL"], env["GRLM_TEST_POSTGRES_DIR"]
    subprocess.run(
        ["bash", str(POSTGRES_SCRIPT), "stop", env["GRLM_TEST_POSTGRES_DIR"]], check=False
    )


@pytest.fixture
def postgres_url(postgres_cluster):
    """The URL of a new, empty database on the test server, dropped after the test."""
    from _catalog_stores import new_database

    with new_database(postgres_cluster[0]) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Where a new catalog store goes, once per backend: a SQLite file that does not exist yet,
    or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")
