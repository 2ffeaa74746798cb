"""Exception types of grlm. The compiled core maps its C++ exceptions onto these."""


class GrlmError(Exception):
    """Base class of every error grlm raises on purpose."""


class InvalidInputError(GrlmError, ValueError):
    """A user input is malformed: empty or over-long Term ID, empty term, bad k, ..."""


class IndexFileError(GrlmError, ValueError):
    """A saved grounding index cannot be read: missing, not a file, truncated, corrupted or of an
    unknown version. The message names the file and the field that failed."""


class ResourceError(GrlmError, RuntimeError):
    """The system refused a resource grlm asked for, e.g. a worker thread (``ulimit -u``)."""


class CudaError(GrlmError, RuntimeError):
    """The CUDA backend failed or was asked for where it is not available."""


class CatalogStoreError(GrlmError, RuntimeError):
    """A catalog store (``grlm.store``) cannot be used as asked: none at that URL, not a grlm
    store, a schema this grlm does not read, or a committed change a follower cannot apply."""


class StoreUnavailableError(CatalogStoreError):
    """The catalog store cannot be reached now (a server down, a locked or failing database):
    nothing was committed, or, when a connection broke during a commit, its outcome is unknown.
    Retrying later is the remedy; a server answers 503. ``committed_version`` is set when the
    change was committed but could not be read back and applied yet."""

    committed_version: int | None = None


class ChangesPrunedError(CatalogStoreError):
    """The changes asked for were pruned from a catalog store's log (``prune_changes``): they are
    behind its oldest checkpoint, so only a start from a checkpoint can catch up."""
