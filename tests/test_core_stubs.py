"""python/grlm/_core.pyi describes the whole compiled module: every public name of grlm._core
(and of its classes) has a stub, and every stub names something the module has (the CUDA names
only where the kernel is compiled in). The stubs ship in the wheel: they sit in the package
directory that pyproject's ``wheel.packages`` installs, beside py.typed."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import grlm
from grlm import _core

STUBS = Path(grlm.__file__).with_name("_core.pyi")
CUDA_ONLY = {"cuda_device_count", "cuda_runtime_status", "CudaStructuralScorer"}


def stub_tree() -> dict[str, set[str] | None]:
    """Top-level stub names -> member names (classes) or None."""
    names: dict[str, set[str] | None] = {}
    for node in ast.parse(STUBS.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {
                n.name
                for n in node.body
                if isinstance(n, ast.FunctionDef) and not n.name.startswith("__")
            }
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = None
        elif isinstance(node, ast.Assign):
            names.update({t.id: None for t in node.targets})
    return {name: members for name, members in names.items() if not name.startswith("_")}


def public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_stubs_sit_beside_py_typed_in_the_package():
    assert STUBS.is_file()
    assert STUBS.with_name("py.typed").is_file()
    assert (
        'wheel.packages = ["python/grlm"]'
        in (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    )


def test_every_public_name_of_the_module_has_a_stub_and_back():
    stubs = stub_tree()
    module_names = public(_core)
    expected = set(stubs) - (set() if _core.cuda_compiled else CUDA_ONLY)
    assert module_names == expected
    for name, members in stubs.items():
        if members is None or name not in module_names:
            continue
        cls = getattr(_core, name)
        assert inspect.isclass(cls)
        assert public(cls) == members, name
