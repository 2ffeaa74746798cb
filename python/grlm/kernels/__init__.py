"""GPU kernels that ship inside the package (Triton sources live here, in python/grlm/kernels/).

Each module imports triton itself, so ``import grlm.kernels`` costs nothing; the launchers are
called through the dispatch functions of the packages that use them (for example
:func:`grlm.decoding.constrained_step.constrained_topk`).
"""
