"""The pipeline under ``torchrun --nproc_per_node 2`` on the CPU (gloo): training is
data-parallel, the evaluation users are sharded and merged by process 0 into one report whose
recommendations equal a single process's with the same model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _rule_catalog import NUM_USERS, rule_config


def _torchrun() -> str | None:
    """torchrun beside this interpreter (a venv's, whether or not it is activated), or on PATH."""
    beside = Path(sys.executable).with_name("torchrun")
    return str(beside) if beside.exists() else shutil.which("torchrun")


def _grlm(args, *, env_extra=None, torchrun=False):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(env_extra or {})}
    if torchrun:
        launcher = [_torchrun(), "--nproc_per_node", "2"]
        launcher += ["--master_port", "29517", "-m", "grlm.cli"]
    else:
        launcher = [sys.executable, "-m", "grlm.cli"]
    return subprocess.run(
        launcher + args, check=False, env=env, capture_output=True, text=True, timeout=600
    )


def _rows(run_dir):
    path = run_dir / "recommend" / "test-constrained.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_train_and_evaluate_as_one(tmp_path):
    if _torchrun() is None:
        pytest.skip("torchrun is not installed")
    config = rule_config(tmp_path)
    # More epochs than the budget allows: both processes must stop at the same step.
    config["train"].update(epochs=100, time_budget_s=15)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    two = _grlm(["run", "--config", str(path)], torchrun=True)
    assert two.returncode == 0, two.stderr[-3000:]
    run_dir = tmp_path / "run"
    sharded = _rows(run_dir)
    assert len(sharded) == NUM_USERS and not list((run_dir / "recommend").glob(".*part*"))
    report = json.loads((run_dir / "report.json").read_text())
    assert report["model"]["test"]["constrained"]["num_examples"] == NUM_USERS
    result = json.loads((run_dir / "train" / "train_result.json").read_text())
    assert result["steps"] > 0
    one = _grlm(["recommend", "--config", str(path), "--force", "recommend"])
    assert one.returncode == 0, one.stderr[-3000:]
    assert _rows(run_dir) == sharded
    # Training up to date: the processes meet at the stage barriers without it.
    again = _grlm(["recommend", "--config", str(path), "--force", "recommend"], torchrun=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _rows(run_dir) == sharded
