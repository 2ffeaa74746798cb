"""grlm: generative recommendation with Term IDs (GRLM).

``import grlm`` stays light: the compiled core and heavy dependencies (torch, transformers,
faiss, triton) are imported by the submodules that need them.
"""

__version__ = "0.1.0"


def cuda_compiled() -> bool:
    """Whether the compiled core was built with the CUDA structural-scoring kernel."""
    from grlm import _core

    return bool(_core.cuda_compiled)
