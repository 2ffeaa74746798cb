"""Exception types of grlm. The compiled core maps its C++ exceptions onto these."""


class GrlmError(Exception):
    """Base class of every error grlm raises on purpose."""


class InvalidInputError(GrlmError, ValueError):
    """A user input is malformed: empty or over-long Term ID, empty term, bad k, ..."""


class IndexFileError(GrlmError, ValueError):
    """A saved grounding index is truncated, corrupted or of an unknown version."""


class CudaError(GrlmError, RuntimeError):
    """The CUDA backend failed or was asked for where it is not available."""
