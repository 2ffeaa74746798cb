"""`bench/gpu_quality.sh --smoke`: the GPU quality run's pipeline and report, end to end on the
CPU with a tiny random model and 300 Beauty users (the GPU run itself needs an H200)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.shared_data
def test_gpu_quality_smoke_runs_end_to_end(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_quality.sh"), "--smoke", str(tmp_path / "smoke")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "smoke" / "run" / "report.json").read_text())
    assert report["dataset"]["eval_users"] == 300
    assert report["sft"]["objective"] == "packed"
    rows = report["table"]["test"]
    assert set(rows) == {"GRLM (free)", "GRLM (constrained)", "popularity", "sasrec"}
    intervals = report["statistics"]["test"]["intervals"]
    for name in rows:
        ci = intervals[name]["recall@10"]
        assert ci["low"] <= rows[name]["recall@10"] <= ci["high"]
    paired = report["statistics"]["test"]["paired"]
    assert set(paired) == {
        f"GRLM ({d}) - {b}" for d in ("free", "constrained") for b in ("popularity", "sasrec")
    }
    assert report["model"]["test"]["constrained"]["vr@4"] == 1.0
    assert report["model"]["test"]["constrained"]["dhr@4"] == 1.0
    curve = report["train"]["valid_metrics"]
    assert [step for step, _ in curve] == [3, 6]
    assert "recall@10" in result.stdout  # the summary table comes last
