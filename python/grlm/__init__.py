"""grlm: generative recommendation with Term IDs (GRLM).

``import grlm`` stays light: the compiled core and heavy dependencies (torch, transformers,
faiss, triton) are imported by the submodules that need them.
"""

# The one source of the version: pyproject.toml (scikit-build-core) and CMakeLists.txt read it.
__version__ = "0.1.0"
